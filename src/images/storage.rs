//! Media storage: where image files are kept. Keys look like `images/<uuid>/640.webp` and are
//! built by Galley alone; nothing a client sends is ever part of one.
//!
//! Two backends behind one small API: a local directory, and S3-compatible object storage
//! (AWS S3, MinIO, R2, …). Either way Galley can serve the files under `/media`, or hand out
//! `GALLEY_MEDIA_BASE_URL` URLs for a CDN in front of the storage.

use std::{
    io::{ErrorKind, SeekFrom},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use axum::body::Body;
use futures_util::{StreamExt, TryStreamExt};
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutOptions,
    PutPayload, aws::AmazonS3Builder, path::Path as ObjectPath,
};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::config::S3Config;

/// Served files never change: caches (and a CDN reading these from the bucket) keep them.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

const READ_CHUNK_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub enum Storage {
    /// A directory on the local filesystem.
    Local { root: PathBuf },
    /// A bucket of an S3-compatible object store.
    S3 { store: Arc<dyn ObjectStore> },
}

impl Storage {
    /// Local storage rooted at `root`, created when missing.
    pub fn local(root: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("creating the media directory {}", root.display()))?;
        Ok(Self::Local {
            root: root.to_owned(),
        })
    }

    /// S3-compatible storage. Credentials not given fall back to the usual `AWS_*` variables
    /// and instance credentials.
    pub fn s3(config: &S3Config) -> anyhow::Result<Self> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region);
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(key) = &config.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder
            .build()
            .context("configuring S3 storage (GALLEY_S3_*)")?;
        Ok(Self::S3 {
            store: Arc::new(store),
        })
    }

    /// Stores `bytes` at `key`. Local files are written to a temporary name and renamed, and
    /// S3 puts are atomic, so a reader never sees half a file.
    pub async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &'static str,
    ) -> anyhow::Result<()> {
        match self {
            Self::Local { root } => {
                let path = root.join(key);
                let dir = path.parent().context("media key without a directory")?;
                tokio::fs::create_dir_all(dir).await?;
                let partial = path.with_extension("partial");
                tokio::fs::write(&partial, bytes)
                    .await
                    .with_context(|| format!("writing {}", partial.display()))?;
                tokio::fs::rename(&partial, &path).await?;
            }
            Self::S3 { store } => {
                let attributes = Attributes::from_iter([
                    (Attribute::ContentType, content_type),
                    (Attribute::CacheControl, IMMUTABLE),
                ]);
                let options = PutOptions {
                    attributes,
                    ..Default::default()
                };
                store
                    .put_opts(&ObjectPath::from(key), PutPayload::from(bytes), options)
                    .await
                    .with_context(|| format!("storing {key} in S3"))?;
            }
        }
        Ok(())
    }

    /// Removes the file at `key`; a missing file is not an error.
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match self {
            Self::Local { root } => {
                let path = root.join(key);
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("removing {}", path.display()));
                    }
                }
                if let Some(dir) = path.parent() {
                    // Only succeeds once the image's last file is gone.
                    let _ = tokio::fs::remove_dir(dir).await;
                }
            }
            Self::S3 { store } => match store.delete(&ObjectPath::from(key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e).with_context(|| format!("removing {key} from S3")),
            },
        }
        Ok(())
    }

    /// Every stored key, with its age (for garbage collection).
    pub async fn keys(&self) -> anyhow::Result<Vec<(String, Duration)>> {
        match self {
            Self::Local { root } => {
                let mut keys = Vec::new();
                let mut dirs = match tokio::fs::read_dir(root.join("images")).await {
                    Ok(dirs) => dirs,
                    Err(e) if e.kind() == ErrorKind::NotFound => return Ok(keys),
                    Err(e) => return Err(e.into()),
                };
                while let Some(dir) = dirs.next_entry().await? {
                    let Ok(mut files) = tokio::fs::read_dir(dir.path()).await else {
                        continue;
                    };
                    while let Some(file) = files.next_entry().await? {
                        let age = file
                            .metadata()
                            .await
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| t.elapsed().ok())
                            .unwrap_or_default();
                        keys.push((
                            format!(
                                "images/{}/{}",
                                dir.file_name().to_string_lossy(),
                                file.file_name().to_string_lossy()
                            ),
                            age,
                        ));
                    }
                }
                Ok(keys)
            }
            Self::S3 { store } => {
                let now = chrono::Utc::now();
                store
                    .list(Some(&ObjectPath::from("images")))
                    .map_ok(|meta| {
                        let age = (now - meta.last_modified).to_std().unwrap_or_default();
                        (meta.location.to_string(), age)
                    })
                    .try_collect()
                    .await
                    .context("listing S3 media")
            }
        }
    }

    /// The size of the file at `key`, `None` when there is none.
    pub async fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
        match self {
            Self::Local { root } => match tokio::fs::metadata(root.join(key)).await {
                Ok(meta) => Ok(Some(meta.len())),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            },
            Self::S3 { store } => match store.head(&ObjectPath::from(key)).await {
                Ok(meta) => Ok(Some(meta.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e).with_context(|| format!("reading {key} metadata from S3")),
            },
        }
    }

    /// A stream of `count` bytes of `key` from `start`.
    pub async fn read(&self, key: &str, start: u64, count: u64) -> anyhow::Result<Body> {
        match self {
            Self::Local { root } => {
                let mut file = tokio::fs::File::open(root.join(key)).await?;
                file.seek(SeekFrom::Start(start)).await?;
                // Large reads: each one is a trip to the blocking pool, and 4 KiB reads (the
                // default) cut throughput of a small variant to a fifth.
                Ok(Body::from_stream(ReaderStream::with_capacity(
                    file.take(count),
                    READ_CHUNK_BYTES,
                )))
            }
            Self::S3 { store } => {
                let options = GetOptions {
                    range: Some(GetRange::Bounded(start..start + count)),
                    ..Default::default()
                };
                let result = store
                    .get_opts(&ObjectPath::from(key), options)
                    .await
                    .with_context(|| format!("reading {key} from S3"))?;
                Ok(Body::from_stream(result.into_stream().map(|chunk| {
                    chunk.map_err(|e| std::io::Error::other(e.to_string()))
                })))
            }
        }
    }
}
