//! Seeding the store from YAML or JSON values, bypassing the HTTP layer.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::api::{self, Shared};
use crate::{Error, Result, resources};

/// Seeds one value: an object, or a list (`kind` ending in `List`) with `items`.
pub(crate) fn seed_value(shared: &Arc<Shared>, v: Value) -> Result<usize> {
    if v.is_null() {
        return Ok(0);
    }
    let kind = v
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if kind.ends_with("List")
        && let Some(items) = v.get("items").and_then(Value::as_array)
    {
        let mut n = 0;
        for item in items {
            n += seed_value(shared, item.clone())?;
        }
        return Ok(n);
    }
    let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let name = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(def) = resources::find_kind(api_version, &kind) else {
        tracing::warn!(%api_version, %kind, %name, "sandbox: skipping an object of a kind it does not serve");
        return Ok(0);
    };
    if def.review {
        tracing::warn!(%kind, %name, "sandbox: skipping a review: reviews are answered, not stored");
        return Ok(0);
    }
    api::seed_one(shared, def, v).map_err(|e| Error::Seed {
        kind,
        name,
        source: Box::new(e),
    })?;
    Ok(1)
}

/// Seeds every document of a multi-document YAML text.
pub(crate) fn seed_yaml(shared: &Arc<Shared>, yaml: &str) -> Result<usize> {
    let mut n = 0;
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(yaml).enumerate() {
        let v = Value::deserialize(doc).map_err(|e| Error::Yaml {
            document: i + 1,
            message: e.to_string(),
        })?;
        n += seed_value(shared, v)?;
    }
    Ok(n)
}
