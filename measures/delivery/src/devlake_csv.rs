//! DevLake's CSV tables, as its end-to-end tests and exports write them:
//! how a team imports its deployment history.
//!
//! - [`read_deployment_commits`]: `cicd_deployment_commits` rows.
//! - [`read_project_mapping`]: `project_mapping` rows.
//! - [`read_previous_ids`]: the `prev_success_deployment_commit_id` column
//!   of `cicd_deployment_commits` (what the [linking](crate::linking)
//!   computes), to compare with.
//!
//! RFC 4180 CSV with a header row naming the columns: columns may come in
//! any order, unknown ones are ignored, a required one missing is an
//! error. An empty field is DevLake's `NULL`. Timestamps are RFC 3339 as
//! DevLake writes them (`2022-09-10T06:51:47.000+00:00`, also with a space
//! for the `T`), or without offset (`2022-09-10 06:51:47`), read as UTC.
//! Every error names the line (1 is the header) and, when one is at fault,
//! the column.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;

use chrono::{DateTime, NaiveDateTime, Utc};
use csv::StringRecord;

use crate::linking::DeploymentCommit;
use crate::project::{MappingRow, ProjectMapping};

/// A CSV table that could not be read: where (line, and column when one is
/// at fault) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    /// The line (1-based; the header is line 1), 0 when unknown.
    pub line: u64,
    /// The column at fault, by its header name.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(column) = &self.column {
            write!(f, ", column {column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for CsvError {}

/// Read `cicd_deployment_commits` rows. Required columns: `id`, `result`
/// (`SUCCESS`, any case, is a success; anything else is not),
/// `finished_date` (empty while unfinished), `cicd_scope_id`, `repo_url`,
/// `environment`, `commit_sha`; optional: `cicd_deployment_id`,
/// `started_date`. Ids must be unique and non-empty.
pub fn read_deployment_commits(input: impl Read) -> Result<Vec<DeploymentCommit>, CsvError> {
    let mut table = Table::new(input)?;
    let id = table.required("id")?;
    let result = table.required("result")?;
    let finished = table.required("finished_date")?;
    let scope = table.required("cicd_scope_id")?;
    let repo = table.required("repo_url")?;
    let environment = table.required("environment")?;
    let sha = table.required("commit_sha")?;
    let deployment = table.optional("cicd_deployment_id");
    let started = table.optional("started_date");

    let mut seen = HashMap::new();
    let mut commits = Vec::new();
    while let Some(row) = table.next_row()? {
        let commit = DeploymentCommit {
            id: row.id(id, &mut seen)?,
            cicd_deployment_id: deployment.map(|c| row.text(c)).unwrap_or_default(),
            cicd_scope_id: row.text(scope),
            repo_url: row.text(repo),
            environment: row.text(environment),
            success: row.get(result).eq_ignore_ascii_case("SUCCESS"),
            started_at: started.map(|c| row.time(c)).transpose()?.flatten(),
            finished_at: row.time(finished)?,
            commit_sha: row.text(sha),
        };
        commits.push(commit);
    }
    Ok(commits)
}

/// Read `project_mapping` rows: columns `project_name`, `table`, `row_id`.
pub fn read_project_mapping(input: impl Read) -> Result<ProjectMapping, CsvError> {
    let mut table = Table::new(input)?;
    let project = table.required("project_name")?;
    let kind = table.required("table")?;
    let row_id = table.required("row_id")?;
    let mut rows = Vec::new();
    while let Some(row) = table.next_row()? {
        rows.push(MappingRow {
            project_name: row.text(project),
            table: row.text(kind),
            row_id: row.text(row_id),
        });
    }
    Ok(ProjectMapping { rows })
}

/// Read the `prev_success_deployment_commit_id` of each row of a
/// `cicd_deployment_commits` table, by `id` (an empty string where there
/// is none). Ids must be unique and non-empty.
pub fn read_previous_ids(input: impl Read) -> Result<BTreeMap<String, String>, CsvError> {
    let mut table = Table::new(input)?;
    let id = table.required("id")?;
    let previous = table.required("prev_success_deployment_commit_id")?;
    let mut seen = HashMap::new();
    let mut ids = BTreeMap::new();
    while let Some(row) = table.next_row()? {
        ids.insert(row.id(id, &mut seen)?, row.text(previous));
    }
    Ok(ids)
}

/// A header-driven CSV reader.
struct Table<R> {
    reader: csv::Reader<R>,
    columns: HashMap<String, usize>,
}

/// A column: its index and header name.
#[derive(Clone, Copy)]
struct Column {
    index: usize,
    name: &'static str,
}

impl<R: Read> Table<R> {
    fn new(input: R) -> Result<Self, CsvError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(input);
        let header = reader.headers().map_err(from_csv)?.clone();
        let mut columns = HashMap::new();
        for (index, name) in header.iter().enumerate() {
            let name = name.trim_start_matches('\u{feff}').trim();
            if columns.insert(name.to_owned(), index).is_some() {
                return Err(error(
                    1,
                    Some(name),
                    "the column appears twice in the header",
                ));
            }
        }
        Ok(Table { reader, columns })
    }

    fn optional(&self, name: &'static str) -> Option<Column> {
        let index = *self.columns.get(name)?;
        Some(Column { index, name })
    }

    fn required(&self, name: &'static str) -> Result<Column, CsvError> {
        self.optional(name)
            .ok_or_else(|| error(1, Some(name), "the header has no such column"))
    }

    fn next_row(&mut self) -> Result<Option<Row>, CsvError> {
        let mut record = StringRecord::new();
        if !self.reader.read_record(&mut record).map_err(from_csv)? {
            return Ok(None);
        }
        let line = record.position().map_or(0, |p| p.line());
        Ok(Some(Row { record, line }))
    }
}

/// One data row and the line it starts on.
struct Row {
    record: StringRecord,
    line: u64,
}

impl Row {
    fn get(&self, column: Column) -> &str {
        // The reader refuses rows whose length differs from the header's.
        self.record.get(column.index).unwrap_or_default()
    }

    fn text(&self, column: Column) -> String {
        self.get(column).to_owned()
    }

    /// A timestamp, `None` when empty.
    fn time(&self, column: Column) -> Result<Option<DateTime<Utc>>, CsvError> {
        let value = self.get(column).trim();
        if value.is_empty() {
            return Ok(None);
        }
        parse_time(value).map(Some).ok_or_else(|| {
            error(
                self.line,
                Some(column.name),
                &format!(
                    "{value:?} is not a timestamp (RFC 3339, or `YYYY-MM-DD HH:MM:SS` in UTC)"
                ),
            )
        })
    }

    /// A unique, non-empty id; `seen` maps ids to the line they were first on.
    fn id(&self, column: Column, seen: &mut HashMap<String, u64>) -> Result<String, CsvError> {
        let id = self.text(column);
        if id.is_empty() {
            return Err(error(self.line, Some(column.name), "the id is empty"));
        }
        if let Some(first) = seen.insert(id.clone(), self.line) {
            let message = format!("the id {id:?} is already on line {first}");
            return Err(error(self.line, Some(column.name), &message));
        }
        Ok(id)
    }
}

/// A DevLake timestamp: RFC 3339 (`T` or space between date and time), or
/// a date and time without offset, taken as UTC.
pub fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|t| t.and_utc())
}

fn error(line: u64, column: Option<&str>, message: &str) -> CsvError {
    CsvError {
        line,
        column: column.map(str::to_owned),
        message: message.to_owned(),
    }
}

fn from_csv(e: csv::Error) -> CsvError {
    let line = e.position().map_or(0, |p| p.line());
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("the row has {len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { err, .. } => format!("invalid UTF-8 in field {}", err.field() + 1),
        _ => e.to_string(),
    };
    error(line, None, &message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linking::{previous_ids, previous_successes};
    use crate::testing::{at, fixture};

    const DIR: &str = "dora/devlake/prev_success_deployment_commit";

    /// DevLake's own test vector: its `before` table linked for project1
    /// must give its `after` table's `prev_success_deployment_commit_id`,
    /// row by row.
    #[test]
    fn devlake_vector_for_project1() {
        let (Some(before), Some(mapping), Some(after)) = (
            fixture(&format!("{DIR}/cicd_deployment_commits_before.csv")),
            fixture(&format!("{DIR}/project_mapping.csv")),
            fixture(&format!("{DIR}/expected_cicd_deployment_commits_after.csv")),
        ) else {
            return;
        };
        let commits = read_deployment_commits(&before[..]).unwrap();
        let mapping = read_project_mapping(&mapping[..]).unwrap();
        let expected = read_previous_ids(&after[..]).unwrap();
        assert_eq!(commits.len(), 16);
        assert_eq!(expected.len(), 16);

        let scopes = mapping.cicd_scopes("project1");
        assert_eq!(
            scopes.iter().copied().collect::<Vec<_>>(),
            ["cicd1", "cicd2"]
        );
        let links = previous_successes(&commits, |s| scopes.contains(s));
        let computed: BTreeMap<String, String> = commits
            .iter()
            .zip(previous_ids(&commits, &links))
            .map(|(c, p)| (c.id.clone(), p.to_owned()))
            .collect();
        for (id, want) in &expected {
            assert_eq!(computed.get(id), Some(want), "row {id}");
        }
        assert_eq!(computed, expected);
        // The vector links 7 rows; the others (first of their group,
        // failed, outside the project, without environment) have none.
        assert_eq!(expected.values().filter(|p| !p.is_empty()).count(), 7);
    }

    #[test]
    fn devlake_rows_are_read_with_their_types() {
        let Some(before) = fixture(&format!("{DIR}/cicd_deployment_commits_before.csv")) else {
            return;
        };
        let commits = read_deployment_commits(&before[..]).unwrap();
        let c = &commits[0];
        assert_eq!(c.id, "1");
        assert_eq!(c.cicd_deployment_id, "pipeline1");
        assert_eq!(c.cicd_scope_id, "cicd1");
        assert_eq!(c.repo_url, "REPO111");
        assert_eq!(c.environment, "PRODUCTION");
        assert!(c.success);
        assert_eq!(c.started_at, Some(at("2022-09-10T06:51:47Z")));
        assert_eq!(c.finished_at, Some(at("2022-09-11T06:51:47Z")));
        assert_eq!(c.commit_sha, "1");
        assert!(!commits[10].success); // id 11, FAILURE
        assert_eq!(commits[15].environment, ""); // id 16
    }

    #[test]
    fn columns_in_any_order_unknown_ones_ignored() {
        let csv = "environment,extra,commit_sha,finished_date,id,repo_url,result,cicd_scope_id\n\
                   PRODUCTION,x,abc,2024-01-02 03:04:05,d1,https://r,success,s\n\
                   \"STAGING, eu\",\"a \"\"quoted\"\" value\",def,,d2,https://r,FAILURE,s\n";
        let commits = read_deployment_commits(csv.as_bytes()).unwrap();
        assert_eq!(commits.len(), 2);
        assert_eq!(commits[0].id, "d1");
        assert!(commits[0].success);
        assert_eq!(commits[0].finished_at, Some(at("2024-01-02T03:04:05Z")));
        assert_eq!(commits[0].started_at, None);
        assert_eq!(commits[0].cicd_deployment_id, "");
        assert_eq!(commits[0].deployment_key(), "d1");
        assert_eq!(commits[1].environment, "STAGING, eu");
        assert!(!commits[1].success);
        assert_eq!(commits[1].finished_at, None);
    }

    #[test]
    fn timestamps_devlake_writes() {
        let want = Some(at("2022-09-10T06:51:47Z"));
        assert_eq!(parse_time("2022-09-10T06:51:47.000+00:00"), want);
        assert_eq!(parse_time("2022-09-10T08:51:47+02:00"), want);
        assert_eq!(parse_time("2022-09-10 06:51:47.000+00:00"), want);
        assert_eq!(parse_time("2022-09-10T06:51:47Z"), want);
        assert_eq!(parse_time("2022-09-10 06:51:47"), want);
        assert_eq!(parse_time("2022-09-10T06:51:47.000"), want);
        assert_eq!(parse_time("10/09/2022"), None);
    }

    #[test]
    fn a_missing_column_is_named() {
        let e = read_deployment_commits(
            "id,result,finished_date,cicd_scope_id,repo_url,commit_sha\n".as_bytes(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, column environment: the header has no such column"
        );
        let e = read_project_mapping("project_name,row_id\np,r\n".as_bytes()).unwrap_err();
        assert_eq!(e.column.as_deref(), Some("table"));
    }

    #[test]
    fn a_bad_timestamp_names_line_and_column() {
        let csv = "id,result,finished_date,cicd_scope_id,repo_url,environment,commit_sha\n\
                   1,SUCCESS,2024-01-01T00:00:00Z,s,r,P,a\n\
                   2,SUCCESS,yesterday,s,r,P,b\n";
        let e = read_deployment_commits(csv.as_bytes()).unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(e.column.as_deref(), Some("finished_date"));
        assert!(
            e.to_string()
                .starts_with("line 3, column finished_date: \"yesterday\" is not a timestamp"),
            "{e}"
        );
    }

    #[test]
    fn ragged_rows_duplicate_and_empty_ids_are_refused() {
        let header = "id,result,finished_date,cicd_scope_id,repo_url,environment,commit_sha\n";
        let e =
            read_deployment_commits(format!("{header}1,SUCCESS,,s,r,P\n").as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: the row has 6 fields where the header has 7"
        );
        let e = read_deployment_commits(
            format!("{header}1,SUCCESS,,s,r,P,a\n1,SUCCESS,,s,r,P,b\n").as_bytes(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 3, column id: the id \"1\" is already on line 2"
        );
        let e =
            read_deployment_commits(format!("{header},SUCCESS,,s,r,P,a\n").as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), "line 2, column id: the id is empty");
        let e = read_previous_ids("id,id\n".as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, column id: the column appears twice in the header"
        );
    }

    #[test]
    fn a_byte_order_mark_and_crlf_are_accepted() {
        let csv = "\u{feff}project_name,table,row_id\r\np1,cicd_scopes,c1\r\n";
        let m = read_project_mapping(csv.as_bytes()).unwrap();
        assert_eq!(m.cicd_scopes("p1").into_iter().collect::<Vec<_>>(), ["c1"]);
    }
}
