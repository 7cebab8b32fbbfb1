//! Registration of measure versions and creation of instances.

use chrono::Utc;

use crate::derived::DerivedMeasure;
use crate::error::CatalogueError;
use crate::graph::DependencyGraph;
use crate::instance::{Instance, InstanceRevision, InstanceSpec};
use crate::metadata::MeasureMetadata;
use crate::schema::ConfigSchema;
use crate::store::{CatalogueStore, Implementation, MeasureRecord};
use crate::store_error::StoreError;

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
            CatalogueError::Store(StoreError::conflict(format!(
                "{} vanished while registering",
                record.reference()
            )))
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
                existing: format!("component sha256 {existing}"),
            }),
            Implementation::Derived { .. } => Err(CatalogueError::VersionConflict {
                id: metadata.id.clone(),
                version: metadata.version.to_string(),
                existing: "a derived measure".into(),
            }),
        }
    }

    /// Register a derived measure. Same id@version with another definition
    /// is refused, and so is a definition that closes a dependency cycle.
    pub fn register_derived(
        &self,
        derived: DerivedMeasure,
    ) -> Result<Registration, CatalogueError> {
        let DerivedMeasure {
            metadata,
            definition,
        } = derived;
        let (id, version) = (metadata.id.clone(), metadata.version.to_string());
        let conflict = |existing: &str| CatalogueError::VersionConflict {
            id: id.clone(),
            version: version.clone(),
            existing: existing.to_string(),
        };
        if let Some(old) = self.existing(&metadata)? {
            return match &old.implementation {
                Implementation::Derived { definition: d }
                    if *d == definition && old.metadata == metadata =>
                {
                    Ok(Registration::Unchanged(old))
                }
                Implementation::Derived { .. } => Err(conflict("another derived definition")),
                Implementation::Wasm { .. } => Err(conflict("a component")),
            };
        }
        let mut graph = DependencyGraph::of(&self.store.list_measures()?);
        graph.add(
            &metadata.id,
            definition.inputs().iter().map(|(_, i)| i.measure.as_str()),
        );
        if let Some(cycle) = graph.cycle_through(&metadata.id) {
            return Err(CatalogueError::Cycle {
                measure: format!("{}@{}", metadata.id, metadata.version),
                cycle,
            });
        }
        let record = MeasureRecord {
            metadata,
            implementation: Implementation::Derived { definition },
            registered_at: Utc::now(),
        };
        if self.store.insert_measure(&record, &[])? {
            Ok(Registration::Added(record))
        } else {
            Err(conflict("a concurrent registration"))
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
        let instance = self.validated(spec, Utc::now(), false)?;
        if !self.store.insert_instance(&instance)? {
            return Err(CatalogueError::InstanceExists(instance.name));
        }
        Ok(instance)
    }

    /// Replace an instance's settings with `spec`, validated exactly as at
    /// creation (start from [`Instance::to_spec`] to change some fields).
    /// It keeps its creation time and paused state; what it was goes to
    /// its history ([`CatalogueStore::instance_history`]).
    pub fn update_instance(&self, spec: InstanceSpec) -> Result<Instance, CatalogueError> {
        let current = self.instance(&spec.name)?;
        let instance = self.validated(spec, current.created_at, current.paused)?;
        if instance == current {
            return Ok(instance); // nothing changed: no revision
        }
        if !self.store.update_instance(&instance)? {
            return Err(CatalogueError::UnknownInstance(instance.name));
        }
        Ok(instance)
    }

    /// `spec` checked (shape, measure, configuration against its schema,
    /// path fields against the grants) and made an instance.
    fn validated(
        &self,
        spec: InstanceSpec,
        created_at: chrono::DateTime<Utc>,
        paused: bool,
    ) -> Result<Instance, CatalogueError> {
        spec.check_shape()?;
        let reference: MeasureRef = spec.measure.parse()?;
        let record = self.resolve(&reference)?;
        let schema = ConfigSchema::compile(&record.metadata.config_schema).map_err(|reason| {
            CatalogueError::InvalidSchema {
                measure: record.reference(),
                reason,
            }
        })?;
        let mut violations = schema.violations(&spec.config);
        if !violations.is_empty() {
            // A violation's message may quote the value: never a secret's.
            let secrets = crate::secrets::pointers(&record.metadata.config_schema, &spec.config);
            for v in &mut violations {
                if secrets
                    .iter()
                    .any(|s| v.pointer == *s || v.pointer.starts_with(&format!("{s}/")))
                {
                    v.message = "is not valid (a secret field: its value is not shown)".into();
                }
            }
            return Err(CatalogueError::InvalidConfig {
                instance: spec.name,
                measure: record.reference(),
                violations,
            });
        }
        // Path fields mean what the plugin will see (absolute, inside a grant).
        let config =
            match crate::paths::resolve(&record.metadata.config_schema, &spec.config, &spec.grants)
            {
                Ok(config) => config,
                Err(violations) => {
                    return Err(CatalogueError::InvalidConfig {
                        instance: spec.name,
                        measure: record.reference(),
                        violations,
                    });
                }
            };
        Ok(Instance {
            name: spec.name,
            measure_id: record.metadata.id,
            measure_version: record.metadata.version,
            config,
            labels: spec.labels,
            schedule: spec.schedule,
            timezone: spec.timezone,
            grants: spec.grants,
            hosts: spec.hosts,
            secrets: spec.secrets,
            limits: spec.limits,
            catch_up: spec.catch_up,
            paused,
            created_at,
        })
    }

    /// What updates of `name` replaced, oldest first.
    pub fn instance_history(&self, name: &str) -> Result<Vec<InstanceRevision>, CatalogueError> {
        self.instance(name)?;
        Ok(self.store.instance_history(name)?)
    }

    /// Pause or resume an instance; returns it as stored.
    pub fn set_paused(&self, name: &str, paused: bool) -> Result<Instance, CatalogueError> {
        let mut instance = self.instance(name)?;
        instance.paused = paused;
        if !self.store.update_instance(&instance)? {
            return Err(CatalogueError::UnknownInstance(name.to_string()));
        }
        Ok(instance)
    }

    /// Delete an instance; its measurements stay in the store.
    pub fn delete_instance(&self, name: &str) -> Result<(), CatalogueError> {
        if !self.store.delete_instance(name)? {
            return Err(CatalogueError::UnknownInstance(name.to_string()));
        }
        Ok(())
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

    use serde_json::json;

    use super::*;
    use crate::metadata::{MeasureKind, RawMetadata, Scale};
    use crate::store::StoreError;

    /// A minimal in-memory store, enough to exercise the rules.
    #[derive(Default)]
    struct Memory {
        measures: RefCell<Vec<MeasureRecord>>,
        instances: RefCell<Vec<Instance>>,
        history: RefCell<Vec<InstanceRevision>>,
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
        fn update_instance(&self, instance: &Instance) -> Result<bool, StoreError> {
            let mut all = self.instances.borrow_mut();
            match all.iter_mut().find(|i| i.name == instance.name) {
                Some(i) => {
                    if (Instance {
                        paused: instance.paused,
                        ..i.clone()
                    }) != *instance
                    {
                        self.history.borrow_mut().push(InstanceRevision {
                            replaced_at: Utc::now(),
                            instance: i.clone(),
                        });
                    }
                    *i = instance.clone();
                    Ok(true)
                }
                None => Ok(false),
            }
        }
        fn instance_history(&self, name: &str) -> Result<Vec<InstanceRevision>, StoreError> {
            Ok(self
                .history
                .borrow()
                .iter()
                .filter(|r| r.instance.name == name)
                .cloned()
                .collect())
        }
        fn delete_instance(&self, name: &str) -> Result<bool, StoreError> {
            self.history
                .borrow_mut()
                .retain(|r| r.instance.name != name);
            let mut all = self.instances.borrow_mut();
            let before = all.len();
            all.retain(|i| i.name != name);
            Ok(all.len() < before)
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
        InstanceSpec::new(name, measure, config)
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

    fn derived(id: &str, input: &str) -> DerivedMeasure {
        let text = format!(
            "[measure]\nid = \"{id}\"\nversion = \"1.0.0\"\nname = \"D\"\nunit = \"1\"\nscale = \"ratio\"\n[derived]\nkind = \"rescaled\"\ninput = {{ measure = \"{input}\" }}\nmultiplier = 2\n"
        );
        DerivedMeasure::parse("test", &text).unwrap()
    }

    #[test]
    fn derived_measures_register_and_cycles_are_refused_with_the_cycle() {
        let c = Catalogue::new(Memory::default());
        c.register_component(meta("1.0.0"), "aa", b"x").unwrap();
        assert!(matches!(
            c.register_derived(derived("double", "m")).unwrap(),
            Registration::Added(_)
        ));
        assert!(matches!(
            c.register_derived(derived("double", "m")).unwrap(),
            Registration::Unchanged(_)
        ));
        assert!(matches!(
            c.register_derived(derived("double", "other")),
            Err(CatalogueError::VersionConflict { .. })
        ));
        c.register_derived(derived("quad", "double")).unwrap();
        c.register_derived(derived("octo", "quad")).unwrap();
        let mut back = derived("double", "octo");
        back.metadata.version = semver::Version::new(2, 0, 0);
        let err = c.register_derived(back).unwrap_err();
        assert!(
            err.to_string().contains("double -> octo -> quad -> double"),
            "{err}"
        );
        assert_eq!(
            c.store().list_measures().unwrap().len(),
            4,
            "nothing stored on error"
        );
        let inst = c.create_instance(spec("dbl", "double", json!({}))).unwrap();
        assert_eq!(inst.measure_ref(), "double@1.0.0");
        assert!(
            c.create_instance(spec("dbl2", "double", json!({"path": "x"})))
                .is_err(),
            "no config"
        );
    }

    #[test]
    fn instances_pause_resume_and_delete() {
        let c = Catalogue::new(Memory::default());
        c.register_component(meta("1.0.0"), "aa", b"x").unwrap();
        c.create_instance(spec("a", "m", json!({"path": "/x"})))
            .unwrap();
        assert!(c.set_paused("a", true).unwrap().paused);
        assert!(c.instance("a").unwrap().paused);
        assert!(!c.set_paused("a", false).unwrap().paused);
        c.delete_instance("a").unwrap();
        assert!(matches!(
            c.instance("a"),
            Err(CatalogueError::UnknownInstance(_))
        ));
        assert!(matches!(
            c.delete_instance("a"),
            Err(CatalogueError::UnknownInstance(_))
        ));
        assert!(matches!(
            c.set_paused("a", true),
            Err(CatalogueError::UnknownInstance(_))
        ));
    }

    #[test]
    fn updates_are_validated_as_creation_and_keep_history() {
        let c = Catalogue::new(Memory::default());
        c.register_component(meta("1.0.0"), "aa", b"x").unwrap();
        c.register_component(meta("1.1.0"), "bb", b"y").unwrap();
        let first = c
            .create_instance(spec("a", "m@1.0.0", json!({"path": "/x"})))
            .unwrap();
        c.set_paused("a", true).unwrap();
        // A bad configuration is refused with its pointer; nothing changes.
        let mut bad = c.instance("a").unwrap().to_spec();
        bad.config = json!({"path": 3});
        let err = c.update_instance(bad).unwrap_err().to_string();
        assert!(err.contains("/path"), "{err}");
        assert_eq!(c.instance("a").unwrap().config, json!({"path": "/x"}));
        // A good one replaces it; the version stays pinned, the paused
        // state and creation time stay.
        let mut good = c.instance("a").unwrap().to_spec();
        good.config = json!({"path": "/y"});
        good.labels.insert("team".into(), "red".into());
        let updated = c.update_instance(good.clone()).unwrap();
        assert_eq!(updated.measure_version.to_string(), "1.0.0");
        assert!(updated.paused);
        assert_eq!(updated.created_at, first.created_at);
        assert_eq!(c.instance("a").unwrap(), updated);
        // Unchanged: no new revision.
        c.update_instance(good).unwrap();
        let history = c.instance_history("a").unwrap();
        let configs: Vec<_> = history.iter().map(|r| r.instance.config.clone()).collect();
        // The configuration change only: pausing is not a revision.
        assert_eq!(configs, vec![json!({"path": "/x"})]);
        assert!(history[0].instance.paused);
        assert!(matches!(
            c.update_instance(spec("nope", "m", json!({"path": "/x"}))),
            Err(CatalogueError::UnknownInstance(_))
        ));
        c.delete_instance("a").unwrap();
        c.create_instance(spec("a", "m", json!({"path": "/x"})))
            .unwrap();
        assert!(
            c.instance_history("a").unwrap().is_empty(),
            "a new instance, a new history"
        );
    }

    #[test]
    fn a_secret_that_breaks_the_schema_is_not_echoed() {
        let c = Catalogue::new(Memory::default());
        let mut m = meta("1.0.0");
        m.config_schema = json!({"type": "object", "properties": {
            "token": {"type": "string", "pattern": "^ghp_", "writeOnly": true}
        }});
        c.register_component(m, "aa", b"x").unwrap();
        let err = c
            .create_instance(spec("a", "m", json!({"token": "hunter2-secret"})))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/token") && err.contains("not shown"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
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
