//! The manifest source: files and directories of YAML/JSON Kubernetes objects.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::{Error, Store};

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Every manifest file under `paths`, sorted within each directory so that loading is
/// deterministic.
fn manifest_files(paths: &[PathBuf], errors: &mut Vec<Error>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_file() {
            files.push(path.clone());
            continue;
        }
        if !path.exists() {
            errors.push(Error::Io {
                path: path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file or directory",
                ),
            });
            continue;
        }
        for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
            match entry {
                Ok(e) if e.file_type().is_file() && is_manifest(e.path()) => {
                    files.push(e.into_path())
                }
                Ok(_) => {}
                Err(e) => errors.push(Error::Io {
                    path: e
                        .path()
                        .map_or_else(|| path.display().to_string(), |p| p.display().to_string()),
                    source: e.into(),
                }),
            }
        }
    }
    files
}

/// Parses every document of one file. `List` objects are flattened into their items.
fn documents(file: &str, text: &str, errors: &mut Vec<Error>) -> Vec<(usize, Value)> {
    let mut docs = Vec::new();
    let mut push = |doc: usize, v: Value| match v {
        Value::Null => {}
        Value::Object(ref o) if o.get("kind").and_then(Value::as_str) == Some("List") => {
            if let Some(items) = o.get("items").and_then(Value::as_array) {
                docs.extend(items.iter().cloned().map(|i| (doc, i)));
            }
        }
        v => docs.push((doc, v)),
    };
    if file.ends_with(".json") {
        match serde_json::from_str::<Value>(text) {
            Ok(v) => push(1, v),
            Err(e) => errors.push(Error::Parse {
                file: file.to_owned(),
                doc: 1,
                message: e.to_string(),
            }),
        }
        return docs;
    }
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        match Value::deserialize(de) {
            Ok(v) => push(i + 1, v),
            Err(e) => {
                errors.push(Error::Parse {
                    file: file.to_owned(),
                    doc: i + 1,
                    message: e.to_string(),
                });
                // A syntax error leaves the rest of the stream unreadable.
                break;
            }
        }
    }
    docs
}

impl Store {
    /// Load every manifest under `paths` (files or directories, recursive,
    /// `*.yaml`/`*.yml`/`*.json`, multi-document). All errors are collected; each names
    /// file, object (kind, namespace/name) and field path.
    pub fn load_manifests(paths: &[PathBuf]) -> Result<Store, Vec<Error>> {
        let mut store = Store::new();
        store.add_manifests(paths)?;
        Ok(store)
    }

    /// Add the manifests under `paths` to this store. Valid objects are added even when
    /// others fail; the result lists every problem, including references between
    /// objects (e.g. a policy naming a tier that does not exist).
    pub fn add_manifests(&mut self, paths: &[PathBuf]) -> Result<(), Vec<Error>> {
        let (files, mut errors) = read_manifests(paths);
        let mut seen = std::collections::HashMap::new();
        for file in files {
            errors.extend(file.errors);
            for value in &file.objects {
                match self.apply_object(&file.name, value) {
                    Ok(Some(key)) => {
                        if let Some(first) = seen.insert(key.clone(), file.name.clone()) {
                            tracing::warn!(object = %key, first = %first, again = %file.name, "object defined twice; the later definition wins");
                        }
                    }
                    Ok(None) => {}
                    Err(mut e) => errors.append(&mut e),
                }
            }
        }
        errors.extend(self.check_references());
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The objects of one manifest file, in order, and the problems reading it.
#[derive(Debug)]
pub struct ManifestFile {
    pub name: String,
    pub objects: Vec<Value>,
    pub errors: Vec<Error>,
    /// `false` when the file could not be read or a syntax error hid the rest of it:
    /// `objects` are then not all the objects it defines.
    pub complete: bool,
}

/// Read (but do not validate) every manifest file under `paths`; the second value lists
/// the paths that could not be walked.
pub fn read_manifests(paths: &[PathBuf]) -> (Vec<ManifestFile>, Vec<Error>) {
    let mut errors = Vec::new();
    let files = manifest_files(paths, &mut errors)
        .into_iter()
        .map(|file| {
            let name = file.display().to_string();
            let mut errors = Vec::new();
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(source) => {
                    errors.push(Error::Io {
                        path: name.clone(),
                        source,
                    });
                    return ManifestFile {
                        name,
                        objects: Vec::new(),
                        errors,
                        complete: false,
                    };
                }
            };
            let docs = documents(&name, &text, &mut errors);
            let complete = errors.is_empty();
            let mut objects = Vec::new();
            for (doc, value) in docs {
                if value.is_object() {
                    objects.push(value);
                } else {
                    errors.push(Error::Parse {
                        file: name.clone(),
                        doc,
                        message: "not a Kubernetes object (expected a mapping)".to_owned(),
                    });
                }
            }
            ManifestFile {
                name,
                objects,
                errors,
                complete,
            }
        })
        .collect();
    (files, errors)
}
