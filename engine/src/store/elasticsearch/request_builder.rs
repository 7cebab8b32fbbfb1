//! Bulk request bodies: NDJSON `create` actions with the measurement id as
//! `_id` (data streams accept only `create`; a second `create` of the same
//! id is a 409, which the backend counts as already stored).

use bytes::{BufMut, Bytes, BytesMut};

/// One document to write: its id and its encoded source.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    pub id: String,
    pub source: Bytes,
    /// Where it waits in the spool, when it comes from there.
    pub spool_seq: Option<i64>,
}

impl Doc {
    /// The bytes this document adds to a bulk body.
    pub fn bulk_len(&self) -> usize {
        // {"create":{"_id":"<id>"}}\n<source>\n
        self.id.len() + 22 + self.source.len() + 1
    }
}

/// The NDJSON body of a bulk request creating `docs` (ends with a newline,
/// as Elasticsearch requires).
pub fn bulk_body<'a>(docs: impl IntoIterator<Item = &'a Doc>) -> Bytes {
    let mut body = BytesMut::new();
    for doc in docs {
        body.reserve(doc.bulk_len());
        body.put_slice(b"{\"create\":{\"_id\":\"");
        // Ids are 32 hex digits: nothing to escape.
        body.put_slice(doc.id.as_bytes());
        body.put_slice(b"\"}}\n");
        body.put_slice(&doc.source);
        body.put_u8(b'\n');
    }
    body.freeze()
}

/// Split `docs` into consecutive batches of at most `max_actions` documents
/// and `max_bytes` of body (a single larger document is a batch of its own).
pub fn batches(docs: &[Doc], max_actions: usize, max_bytes: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, doc) in docs.iter().enumerate() {
        let len = doc.bulk_len();
        if i > start && (i - start >= max_actions || bytes + len > max_bytes) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += len;
    }
    if start < docs.len() {
        out.push(start..docs.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, source: &str) -> Doc {
        Doc {
            id: id.into(),
            source: Bytes::copy_from_slice(source.as_bytes()),
            spool_seq: None,
        }
    }

    #[test]
    fn the_body_is_ndjson_with_a_final_newline_and_exact_lengths() {
        let docs = [doc("aa", r#"{"x":1}"#), doc("bb", r#"{"y":2}"#)];
        let body = bulk_body(&docs);
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            "{\"create\":{\"_id\":\"aa\"}}\n{\"x\":1}\n{\"create\":{\"_id\":\"bb\"}}\n{\"y\":2}\n"
        );
        assert_eq!(body.len(), docs.iter().map(Doc::bulk_len).sum::<usize>());
    }

    #[test]
    fn batches_respect_count_and_bytes() {
        let docs: Vec<Doc> = (0..10).map(|i| doc(&format!("{i:02}"), "{}")).collect();
        let one = docs[0].bulk_len();
        assert_eq!(batches(&docs, 4, 1 << 20), vec![0..4, 4..8, 8..10]);
        assert_eq!(batches(&docs, 100, 3 * one), vec![0..3, 3..6, 6..9, 9..10]);
        assert_eq!(
            batches(&docs, 100, 1),
            (0..10).map(|i| i..i + 1).collect::<Vec<_>>()
        );
        assert!(batches(&[], 10, 10).is_empty());
    }
}
