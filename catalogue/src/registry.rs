//! Registration of measure versions and creation of instances.

use chrono::Utc;

use crate::error::CatalogueError;
use crate::instance::{Instance, InstanceSpec};
use crate::metadata::MeasureMetadata;
use crate::schema::ConfigSchema;
use crate::store::{CatalogueStore, Implementation, MeasureRecord};

/// A parsed `id[@version]` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasureRef {
    pub id: String,
    pub version: Option<semver::Version>,
}

impl std::str::FromStr for MeasureRef {
    type Err = CatalogueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| CatalogueError::InvalidReference {
            reference: s.to_string(),
            reason,
        };
        let (id, version) = match s.split_once('@') {
            Some((id, v)) => (
                id,
                Some(semver::Version::parse(v).map_err(|e| invalid(format!("version: {e}")))?),
            ),
            None => (s, None),
        };
        if !crate::metadata::is_kebab_case(id) {
            return Err(invalid("the id is not kebab-case".into()));
        }
        Ok(MeasureRef {
            id: id.to_string(),
            version,
        })
    }
}

/// Outcome of a registration.
#[derive(Debug, Clone, PartialEq)]
pub enum Registration {
    /// A new version entered the catalogue.
    Added(MeasureRecord),
    /// The very same bytes were already registered under this id@version.
    Unchanged(MeasureRecord),
}

impl Registration {
    pub fn record(&self) -> &MeasureRecord {
        match self {
            Registration::Added(r) | Registration::Unchanged(r) => r,
        }
    }
}

/// The catalogue rules over a store.
pub struct Catalogue<S> {
    store: S,
}

impl<S: CatalogueStore> Catalogue<S> {
    pub fn new(store: S) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Register a component whose metadata the sandbox has already read and
    /// validated. Same id@version with other bytes is refused.
    pub fn register_component(
        &self,
        metadata: MeasureMetadata,
        sha256: &str,
        wasm: &[u8],
    ) -> Result<Registration, CatalogueError> {
        if let Some(old) = self.existing(&metadata)? {
            return Self::same_bytes(old, &metadata, sha256);
        }
        let record = MeasureRecord {
            metadata,
            implementation: Implementation::Wasm {
                sha256: sha256.to_string(),
            },
            registered_at: Utc::now(),
        };
        if self.store.insert_measure(&record, wasm)? {
            return Ok(Registration::Added(record));
        }
        // Another process registered this id@version in the meantime.
        let old = self.existing(&record.metadata)?.ok_or_else(|| {
            CatalogueError::Store(
                format!("{} vanished while registering", record.reference()).into(),
            )
        })?;
        Self::same_bytes(old, &record.metadata, sha256)
    }

    fn existing(
        &self,
        metadata: &MeasureMetadata,
    ) -> Result<Option<MeasureRecord>, CatalogueError> {
        Ok(self
            .store
            .measure_versions(&metadata.id)?
            .into_iter()
            .find(|r| r.metadata.version == metadata.version))
    }

    fn same_bytes(
        old: MeasureRecord,
        metadata: &MeasureMetadata,
        sha256: &str,
    ) -> Result<Registration, CatalogueError> {
        match &old.implementation {
            Implementation::Wasm { sha256: s } if s == sha256 => Ok(Registration::Unchanged(old)),
            Implementation::Wasm { sha256: existing } => Err(CatalogueError::VersionConflict {
                id: metadata.id.clone(),
                version: metadata.version.to_string(),
                existing: existing.clone(),
            }),
        }
    }

    /// The version a reference names, or the latest one: the highest
    /// release, or the highest pre-release when there is no release.
    pub fn resolve(&self, reference: &MeasureRef) -> Result<MeasureRecord, CatalogueError> {
        let versions = self.store.measure_versions(&reference.id)?;
        let found = match &reference.version {
            Some(v) => versions.into_iter().find(|r| &r.metadata.version == v),
            None => versions.into_iter().max_by(|a, b| {
                let (a, b) = (&a.metadata.version, &b.metadata.version);
                (a.pre.is_empty(), a).cmp(&(b.pre.is_empty(), b))
            }),
        };
        found.ok_or_else(|| {
            CatalogueError::UnknownMeasure(match &reference.version {
                Some(v) => format!("{}@{v}", reference.id),
                None => reference.id.clone(),
            })
        })
    }

    /// Validate and store a new instance, pinned to the resolved version.
    pub fn create_instance(&self, spec: InstanceSpec) -> Result<Instance, CatalogueError> {
        spec.check_shape()?;
        let reference: MeasureRef = spec.measure.parse()?;
        let record = self.resolve(&reference)?;
        let schema = ConfigSchema::compile(&record.metadata.config_schema).map_err(|reason| {
            CatalogueError::InvalidSchema {
                measure: record.reference(),
                reason,
            }
        })?;
        let violations = schema.violations(&spec.config);
        if !violations.is_empty() {
            return Err(CatalogueError::InvalidConfig {
                instance: spec.name,
                measure: record.reference(),
                violations,
            });
        }
        let instance = Instance {
            name: spec.name,
            measure_id: record.metadata.id,
            measure_version: record.metadata.version,
            config: spec.config,
            labels: spec.labels,
            schedule: spec.schedule,
            grants: spec.grants,
            limits: spec.limits,
            created_at: Utc::now(),
        };
        if !self.store.insert_instance(&instance)? {
            return Err(CatalogueError::InstanceExists(instance.name));
        }
        Ok(instance)
    }

    pub fn instance(&self, name: &str) -> Result<Instance, CatalogueError> {
        self.store
            .instance(name)?
            .ok_or_else(|| CatalogueError::UnknownInstance(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::instance::LimitOverrides;
    use crate::metadata::{MeasureKind, RawMetadata, Scale};
    use crate::store::StoreError;

    /// A minimal in-memory store, enough to exercise the rules.
    #[derive(Default)]
    struct Memory {
        measures: RefCell<Vec<MeasureRecord>>,
        instances: RefCell<Vec<Instance>>,
    }

    impl CatalogueStore for Memory {
        fn measure_versions(&self, id: &str) -> Result<Vec<MeasureRecord>, StoreError> {
            Ok(self
                .measures
                .borrow()
                .iter()
                .filter(|r| r.metadata.id == id)
                .cloned()
                .collect())
        }
        fn list_measures(&self) -> Result<Vec<MeasureRecord>, StoreError> {
            Ok(self.measures.borrow().clone())
        }
        fn insert_measure(&self, record: &MeasureRecord, _: &[u8]) -> Result<bool, StoreError> {
            let mut measures = self.measures.borrow_mut();
            let m = &record.metadata;
            if measures
                .iter()
                .any(|r| r.metadata.id == m.id && r.metadata.version == m.version)
            {
                return Ok(false);
            }
            measures.push(record.clone());
            Ok(true)
        }
        fn wasm(&self, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(None)
        }
        fn insert_instance(&self, instance: &Instance) -> Result<bool, StoreError> {
            if self
                .instances
                .borrow()
                .iter()
                .any(|i| i.name == instance.name)
            {
                return Ok(false);
            }
            self.instances.borrow_mut().push(instance.clone());
            Ok(true)
        }
        fn instance(&self, name: &str) -> Result<Option<Instance>, StoreError> {
            Ok(self
                .instances
                .borrow()
                .iter()
                .find(|i| i.name == name)
                .cloned())
        }
        fn list_instances(&self) -> Result<Vec<Instance>, StoreError> {
            Ok(self.instances.borrow().clone())
        }
    }

    fn meta(version: &str) -> MeasureMetadata {
        RawMetadata {
            id: "m".into(),
            version: version.into(),
            name: "M".into(),
            description: String::new(),
            kind: MeasureKind::Direct,
            unit: "1".into(),
            scale: Scale::Ratio,
            config_schema: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"], "additionalProperties": false}).to_string(),
            output: String::new(),
        }
        .validate()
        .unwrap()
    }

    fn spec(name: &str, measure: &str, config: serde_json::Value) -> InstanceSpec {
        InstanceSpec {
            name: name.into(),
            measure: measure.into(),
            config,
            labels: BTreeMap::new(),
            schedule: None,
            grants: vec![],
            limits: LimitOverrides::default(),
        }
    }

    #[test]
    fn versions_live_side_by_side_and_bytes_behind_a_version_never_change() {
        let c = Catalogue::new(Memory::default());
        assert!(matches!(
            c.register_component(meta("1.0.0"), "aa", b"x").unwrap(),
            Registration::Added(_)
        ));
        assert!(matches!(
            c.register_component(meta("1.0.0"), "aa", b"x").unwrap(),
            Registration::Unchanged(_)
        ));
        let err = c.register_component(meta("1.0.0"), "bb", b"y").unwrap_err();
        assert!(
            matches!(err, CatalogueError::VersionConflict { .. }),
            "{err}"
        );
        c.register_component(meta("1.10.0"), "cc", b"z").unwrap();
        c.register_component(meta("2.0.0-rc.1"), "ee", b"v")
            .unwrap();
        c.register_component(meta("1.9.0"), "dd", b"w").unwrap();
        assert_eq!(c.store().list_measures().unwrap().len(), 4);
        let latest = c.resolve(&"m".parse().unwrap()).unwrap();
        assert_eq!(
            latest.metadata.version.to_string(),
            "1.10.0",
            "semver order, not text order, and a release before a pre-release"
        );
        let rc = c.resolve(&"m@2.0.0-rc.1".parse().unwrap()).unwrap();
        assert_eq!(
            rc.implementation,
            Implementation::Wasm {
                sha256: "ee".into()
            }
        );
        let pinned = c.resolve(&"m@1.9.0".parse().unwrap()).unwrap();
        assert_eq!(
            pinned.implementation,
            Implementation::Wasm {
                sha256: "dd".into()
            }
        );
        assert!(matches!(
            c.resolve(&"m@2.0.0".parse().unwrap()),
            Err(CatalogueError::UnknownMeasure(_))
        ));
    }

    #[test]
    fn instances_pin_the_latest_version_and_reject_bad_config_with_pointers() {
        let c = Catalogue::new(Memory::default());
        c.register_component(meta("1.0.0"), "aa", b"x").unwrap();
        c.register_component(meta("2.0.0"), "bb", b"x").unwrap();
        let i = c
            .create_instance(spec("a", "m", json!({"path": "/x"})))
            .unwrap();
        assert_eq!(i.measure_ref(), "m@2.0.0");
        let err = c
            .create_instance(spec("b", "m@1.0.0", json!({"path": 1, "extra": true})))
            .unwrap_err();
        let CatalogueError::InvalidConfig { violations, .. } = &err else {
            panic!("{err}")
        };
        assert!(
            violations.iter().any(|v| v.pointer == "/path"),
            "{violations:?}"
        );
        assert!(err.to_string().contains("at /path"), "{err}");
        assert!(
            c.store().instance("b").unwrap().is_none(),
            "nothing stored on error"
        );
        assert!(matches!(
            c.create_instance(spec("a", "m", json!({"path": "/y"}))),
            Err(CatalogueError::InstanceExists(_))
        ));
    }

    #[test]
    fn instance_shape_is_checked() {
        let c = Catalogue::new(Memory::default());
        c.register_component(meta("1.0.0"), "aa", b"x").unwrap();
        let mut s = spec("bad name", "m", json!({"path": "/x"}));
        assert!(
            c.create_instance(s.clone())
                .unwrap_err()
                .to_string()
                .contains("not allowed")
        );
        s.name = "ok".into();
        s.schedule = Some("*/5 * * * *".into());
        let err = c.create_instance(s.clone()).unwrap_err().to_string();
        assert!(err.contains("cron"), "{err}");
        s.schedule = Some("*/5 * * * * *".into());
        let tmp = std::env::temp_dir().canonicalize().unwrap();
        s.grants = vec![tmp.join("..").join(tmp.file_name().unwrap())];
        let err = c.create_instance(s.clone()).unwrap_err().to_string();
        assert!(err.contains("not canonical"), "{err}");
        s.grants = vec!["relative/dir".into()];
        assert!(
            c.create_instance(s.clone())
                .unwrap_err()
                .to_string()
                .contains("absolute")
        );
        s.grants = vec![];
        s.limits.deadline_ms = Some(0);
        assert!(
            c.create_instance(s.clone())
                .unwrap_err()
                .to_string()
                .contains("deadline_ms")
        );
        s.limits.deadline_ms = Some(5);
        c.create_instance(s).unwrap();
        assert!(
            c.create_instance(spec("z", "Not Kebab", json!({})))
                .is_err()
        );
    }
}
