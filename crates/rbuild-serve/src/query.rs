//! Query parameters as moby reads them: repeatable keys, booleans in
//! `BoolValue`'s sense, JSON-valued parameters that may be `null`, `{}` or
//! `[]`.

use std::collections::BTreeMap;

use crate::api::ApiError;

/// A request's query string, decoded.
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(text: &str) -> Query {
        Query(form_urlencoded::parse(text.as_bytes()).into_owned().collect())
    }

    /// The last value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub(crate) fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// moby's `BoolValue`: false for a missing key and for `""`, `0`,
    /// `no`, `false`, `none` (any case, trimmed); true otherwise.
    pub(crate) fn bool(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| {
            !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "no" | "false" | "none")
        })
    }

    /// A JSON object of strings (`buildargs`, `labels`); a `null` value
    /// is `None`. Missing, empty, `null` and `{}` are no entries.
    pub(crate) fn json_map(&self, key: &str) -> Result<BTreeMap<String, Option<String>>, ApiError> {
        let Some(text) = self.get(key).filter(|t| !t.trim().is_empty()) else {
            return Ok(BTreeMap::new());
        };
        let value: Option<BTreeMap<String, Option<String>>> = serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("invalid {key}: {e}")))?;
        Ok(value.unwrap_or_default())
    }

    /// A JSON array of strings (`cachefrom`); missing, `null` and `[]` are
    /// none.
    pub(crate) fn json_list(&self, key: &str) -> Result<Vec<String>, ApiError> {
        let Some(text) = self.get(key).filter(|t| !t.trim().is_empty()) else {
            return Ok(Vec::new());
        };
        let value: Option<Vec<String>> = serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("invalid {key}: {e}")))?;
        Ok(value.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_read_as_moby_reads_them() {
        let q = Query::parse(
            "t=a%3A1&t=b&rm=0&nocache=True&q=False&pull=&buildargs=%7B%22K%22%3A%22v%22%2C%22N%22%3Anull%7D&labels=%7B%7D&cachefrom=null&ulimits=null",
        );
        assert_eq!(q.all("t"), ["a:1", "b"]);
        assert!(!q.bool("rm") && !q.bool("forcerm"));
        assert!(q.bool("nocache") && !q.bool("q") && !q.bool("pull"));
        let args = q.json_map("buildargs").unwrap();
        assert_eq!(args.get("K"), Some(&Some("v".to_owned())));
        assert_eq!(args.get("N"), Some(&None));
        assert!(q.json_map("labels").unwrap().is_empty());
        assert!(q.json_list("cachefrom").unwrap().is_empty());
        assert!(Query::parse("labels=%5B").json_map("labels").is_err());
    }
}
