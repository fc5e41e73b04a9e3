//! Media storage: where image files are kept. Keys look like `images/<uuid>/640.webp` and are
//! built by Galley alone; nothing a client sends is ever part of one.

use std::{
    io::ErrorKind,
    path::{Path, PathBuf},
};

use anyhow::Context;

/// The storage backends.
#[derive(Debug, Clone)]
pub enum Storage {
    /// A directory on the local filesystem, served by Galley under `/media`.
    Local { root: PathBuf },
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

    /// Stores `bytes` at `key`. Written to a temporary name and renamed, so a reader never
    /// sees half a file and a crash leaves at worst an orphan for `galley media gc`.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
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
                Ok(())
            }
        }
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
                Ok(())
            }
        }
    }

    /// Every stored key (for garbage collection).
    pub async fn keys(&self) -> anyhow::Result<Vec<String>> {
        match self {
            Self::Local { root } => {
                let images = root.join("images");
                let mut keys = Vec::new();
                let mut dirs = match tokio::fs::read_dir(&images).await {
                    Ok(dirs) => dirs,
                    Err(e) if e.kind() == ErrorKind::NotFound => return Ok(keys),
                    Err(e) => return Err(e.into()),
                };
                while let Some(dir) = dirs.next_entry().await? {
                    let Ok(mut files) = tokio::fs::read_dir(dir.path()).await else {
                        continue;
                    };
                    while let Some(file) = files.next_entry().await? {
                        keys.push(format!(
                            "images/{}/{}",
                            dir.file_name().to_string_lossy(),
                            file.file_name().to_string_lossy()
                        ));
                    }
                }
                Ok(keys)
            }
        }
    }

    /// Whether the file at `key` was last written more than `age` ago.
    pub async fn older_than(&self, key: &str, age: std::time::Duration) -> bool {
        match self {
            Self::Local { root } => tokio::fs::metadata(root.join(key))
                .await
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|elapsed| elapsed >= age),
        }
    }

    /// The local path of a key, for serving with range support.
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        match self {
            Self::Local { root } => Some(root.join(key)),
        }
    }
}
