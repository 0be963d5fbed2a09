//! What a runtime puts on its series beside the hierarchy labels: [`Identity`], its worker
//! id and the names of its endpoint labels.

use dynamo_metrics_naming as naming;

use crate::error::{Error, Result};

/// What a runtime puts on its series beside the hierarchy labels: its worker id, and the
/// names of the labels its endpoints may carry.
#[derive(Debug, Default)]
pub(crate) struct Identity {
    /// The value of `worker_id` on every series; `None`: no such label.
    pub(crate) worker_id: Option<String>,
    /// The endpoint label names, checked.
    pub(crate) endpoint_labels: Box<[&'static str]>,
    /// Labels on every series of the runtime, after `worker_id`, checked.
    pub(crate) const_labels: Box<[(&'static str, String)]>,
}

impl Identity {
    /// An identity with `worker_id`, endpoint labels `names` and constant labels
    /// `const_labels`, each name checked by
    /// [`check_fixed_label_name`](naming::check_fixed_label_name).
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a label name that breaks a rule (naming the label and the
    /// rule), [`Error::DuplicateLabel`] for one given twice among all of them.
    pub(crate) fn new(
        worker_id: Option<String>,
        names: &[String],
        const_labels: &[(String, String)],
    ) -> Result<Self> {
        let mut endpoint_labels: Vec<&'static str> = Vec::with_capacity(names.len());
        for name in names {
            naming::check_fixed_label_name(name).map_err(|reason| Error::InvalidName {
                what: "endpoint label name",
                name: name.clone(),
                reason,
            })?;
            if endpoint_labels.contains(&name.as_str()) {
                return Err(Error::DuplicateLabel {
                    family: "(endpoint labels)".to_owned(),
                    label: name.clone(),
                });
            }
            endpoint_labels.push(intern(name));
        }
        let mut constant: Vec<(&'static str, String)> = Vec::with_capacity(const_labels.len());
        for (name, value) in const_labels {
            naming::check_fixed_label_name(name).map_err(|reason| Error::InvalidName {
                what: "constant label name",
                name: name.clone(),
                reason,
            })?;
            if endpoint_labels.contains(&name.as_str()) || constant.iter().any(|(k, _)| k == name) {
                return Err(Error::DuplicateLabel {
                    family: "(constant labels)".to_owned(),
                    label: name.clone(),
                });
            }
            constant.push((intern(name), value.clone()));
        }
        Ok(Identity {
            worker_id,
            endpoint_labels: endpoint_labels.into_boxed_slice(),
            const_labels: constant.into_boxed_slice(),
        })
    }
}

/// `name` with a static lifetime: label names configured at run time are few, and each is
/// stored once for the process.
fn intern(name: &str) -> &'static str {
    static NAMES: parking_lot::Mutex<Vec<&'static str>> = parking_lot::Mutex::new(Vec::new());
    let mut names = NAMES.lock();
    if let Some(known) = names.iter().find(|n| **n == name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.push(leaked);
    leaked
}

/// A random number from the standard library's per-process hash keys, the time and a
/// counter: distinct per runtime and per process, without a dependency.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    hasher.finish()
}
