//! Which scopes a project groups: DevLake's `project_mapping` table.

use std::collections::BTreeSet;

/// One row of a project mapping: `row_id` of table `table` belongs to
/// project `project_name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MappingRow {
    /// The project.
    pub project_name: String,
    /// What kind of scope: `cicd_scopes`, `repos`, `boards`...
    pub table: String,
    /// The scope's id in that table.
    pub row_id: String,
}

/// A project mapping: the scopes each project groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectMapping {
    /// The rows, in the order they were read.
    pub rows: Vec<MappingRow>,
}

/// The table of CI/CD scopes, the one the deployment linking reads.
pub const CICD_SCOPES: &str = "cicd_scopes";

impl ProjectMapping {
    /// The ids of table `table` that project `project` groups.
    pub fn row_ids(&self, project: &str, table: &str) -> BTreeSet<&str> {
        self.rows
            .iter()
            .filter(|r| r.project_name == project && r.table == table)
            .map(|r| r.row_id.as_str())
            .collect()
    }

    /// The CI/CD scopes of project `project` (table [`CICD_SCOPES`]): the
    /// scopes whose deployments the linking considers.
    pub fn cicd_scopes(&self, project: &str) -> BTreeSet<&str> {
        self.row_ids(project, CICD_SCOPES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_of_a_project_and_table() {
        let row = |p: &str, t: &str, id: &str| MappingRow {
            project_name: p.into(),
            table: t.into(),
            row_id: id.into(),
        };
        let m = ProjectMapping {
            rows: vec![
                row("p1", "cicd_scopes", "c1"),
                row("p1", "repos", "r1"),
                row("p2", "cicd_scopes", "c2"),
                row("p1", "cicd_scopes", "c3"),
            ],
        };
        assert_eq!(
            m.cicd_scopes("p1").into_iter().collect::<Vec<_>>(),
            ["c1", "c3"]
        );
        assert_eq!(
            m.row_ids("p1", "repos").into_iter().collect::<Vec<_>>(),
            ["r1"]
        );
        assert!(m.cicd_scopes("p3").is_empty());
    }
}
