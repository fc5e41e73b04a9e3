//! What kind of route a route is, declared where it is registered.
//!
//! A domain router wraps a route in `with(Policy::…, routes!(…))`; the policy rides in the
//! route's OpenAPI operation (the one place that knows both its path and its methods) until
//! the app is assembled, when `RoutePolicies::take` moves it out of the document into the
//! table the cross-cutting layers consult by matched path. Renaming a route keeps its policy;
//! nothing elsewhere matches path strings.

use std::collections::HashMap;

use axum::{
    extract::{DefaultBodyLimit, MatchedPath, Request},
    http::Method,
};
use serde_json::Value;
use utoipa::openapi::{
    OpenApi,
    path::{Operation, PathItem},
};
use utoipa_axum::router::UtoipaMethodRouter;

/// The OpenAPI extension that carries policies from a route to `RoutePolicies::take`.
const EXTENSION: &str = "x-galley-policy";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Its anonymous `GET` answers are the same for every reader and change only with the
    /// tables the live cache's triggers watch: the live cache may keep them.
    PublicRead,
    /// Its body streams in or out for as long as the client's connection needs: the upload
    /// timeout instead of the request timeout, and no JSON body limit (it bounds itself).
    Streaming,
    /// Its writes cannot change what the public reads (signing in and out): they leave the
    /// live cache as it is.
    PrivateWrite,
}

impl Policy {
    fn name(self) -> &'static str {
        match self {
            Self::PublicRead => "public-read",
            Self::Streaming => "streaming",
            Self::PrivateWrite => "private-write",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Self::PublicRead, Self::Streaming, Self::PrivateWrite]
            .into_iter()
            .find(|policy| policy.name() == name)
    }

    fn applies_to(self, method: &Method) -> bool {
        match self {
            Self::PublicRead => method == Method::GET,
            Self::Streaming => true,
            Self::PrivateWrite => method != Method::GET,
        }
    }
}

/// Gives `policy` to the operations of `routes` it applies to.
pub fn with<S: Clone + Send + Sync + 'static>(
    policy: Policy,
    (schemas, mut paths, router): UtoipaMethodRouter<S>,
) -> UtoipaMethodRouter<S> {
    for item in paths.paths.values_mut() {
        for (method, operation) in operations(item) {
            if policy.applies_to(&method) {
                let extensions = operation.extensions.get_or_insert_default();
                let list = extensions
                    .entry(EXTENSION.to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = list {
                    list.push(Value::from(policy.name()));
                }
            }
        }
    }
    let router = match policy {
        Policy::Streaming => router.layer(DefaultBodyLimit::disable()),
        Policy::PublicRead | Policy::PrivateWrite => router,
    };
    (schemas, paths, router)
}

/// Every route's policies, by matched path and method.
#[derive(Debug, Clone, Default)]
pub struct RoutePolicies(HashMap<String, Vec<(Method, Policy)>>);

impl RoutePolicies {
    /// Moves the policies out of `doc`, which then documents the API only.
    pub fn take(doc: &mut OpenApi) -> Self {
        let mut policies = Self::default();
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                let Some(extensions) = operation.extensions.as_mut() else {
                    continue;
                };
                let Some(Value::Array(names)) = extensions.remove(EXTENSION) else {
                    continue;
                };
                if extensions.is_empty() {
                    operation.extensions = None;
                }
                for policy in names
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(Policy::from_name)
                {
                    policies = policies.with(path, method.clone(), policy);
                }
            }
        }
        policies
    }

    /// Adds one policy by hand: for routes outside the OpenAPI router (test probes).
    pub fn with(mut self, path: &str, method: Method, policy: Policy) -> Self {
        self.0
            .entry(path.to_owned())
            .or_default()
            .push((method, policy));
        self
    }

    /// Whether the route `request` matched has `policy`.
    pub fn applies(&self, policy: Policy, request: &Request) -> bool {
        let Some(path) = request.extensions().get::<MatchedPath>() else {
            return false;
        };
        self.0.get(path.as_str()).is_some_and(|list| {
            list.iter()
                .any(|(method, p)| *p == policy && method == request.method())
        })
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = (Method, &mut Operation)> {
    [
        (Method::GET, item.get.as_mut()),
        (Method::PUT, item.put.as_mut()),
        (Method::POST, item.post.as_mut()),
        (Method::DELETE, item.delete.as_mut()),
        (Method::OPTIONS, item.options.as_mut()),
        (Method::HEAD, item.head.as_mut()),
        (Method::PATCH, item.patch.as_mut()),
        (Method::TRACE, item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|op| (method, op)))
}
