//! Output formats of the API: JSON, CSV and TSV (chosen by `?format=` or
//! `Accept`), nested keys flattened with `.`, `?fields=` with wildcard
//! segments, `?labels=`, and opt-in pagination, as the original's renderers.

use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value};

use super::cache::Rendered;
use crate::Error;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `application/json`.
    Json,
    /// `text/csv`.
    Csv,
    /// `text/tab-separated-values`.
    Tsv,
}

/// The format asked for: `?format=` first, then `Accept`. An empty
/// `?format=` is no choice at all (as the original: `Accept` decides).
pub(crate) fn negotiate(format: Option<&str>, headers: &HeaderMap) -> Result<Format, Error> {
    if let Some(f) = format.filter(|f| !f.trim().is_empty()) {
        return match f.trim().to_ascii_lowercase().as_str() {
            "json" | "api" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "tsv" => Ok(Format::Tsv),
            other => Err(Error::NotAcceptable(format!(
                "format \"{other}\" is not available; use json, csv or tsv"
            ))),
        };
    }
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Format::Json);
    };
    let mut ranges: Vec<(f32, usize, &str)> = accept
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut pieces = part.split(';');
            let media = pieces.next()?.trim();
            let q = pieces
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0 && !media.is_empty()).then_some((q, i, media))
        })
        .collect();
    if ranges.is_empty() {
        return Ok(Format::Json);
    }
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, _, media) in ranges {
        let media = media.to_ascii_lowercase();
        match media.as_str() {
            "application/json" | "application/*" | "*/*" => return Ok(Format::Json),
            m if m.ends_with("+json") => return Ok(Format::Json),
            "text/csv" | "text/*" => return Ok(Format::Csv),
            "text/tab-separated-values" => return Ok(Format::Tsv),
            _ => {}
        }
    }
    Err(Error::NotAcceptable(format!(
        "cannot answer in any of \"{accept}\"; available: application/json, text/csv, text/tab-separated-values"
    )))
}

/// Flattens nested objects and arrays into `a.b.0.c` keys.
pub(crate) fn flatten(value: &Value) -> Map<String, Value> {
    fn walk(prefix: &str, v: &Value, out: &mut Map<String, Value>) {
        let key = |k: &str| {
            if prefix.is_empty() {
                k.to_owned()
            } else {
                format!("{prefix}.{k}")
            }
        };
        match v {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    walk(&key(k), v, out);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (i, v) in items.iter().enumerate() {
                    walk(&key(&i.to_string()), v, out);
                }
            }
            Value::Object(_) | Value::Array(_) => {
                if !prefix.is_empty() {
                    out.insert(prefix.to_owned(), Value::Null);
                }
            }
            other => {
                out.insert(prefix.to_owned(), other.clone());
            }
        }
    }
    let mut out = Map::new();
    walk("", value, &mut out);
    out
}

/// Whether flattened `key` matches `pattern`, where a `*` segment matches any one segment.
fn matches(pattern: &[&str], key: &str) -> bool {
    let parts: Vec<&str> = key.split('.').collect();
    parts.len() == pattern.len() && pattern.iter().zip(&parts).all(|(p, k)| *p == "*" || p == k)
}

/// The columns for `fields` (`None`: the endpoint's default; `__all__`: every key, sorted).
fn columns(rows: &[Map<String, Value>], fields: Option<&str>, default: &[&str]) -> Vec<String> {
    let all = || {
        let mut keys: Vec<String> = rows.iter().flat_map(|r| r.keys().cloned()).collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let requested: Vec<String> = match fields.map(str::trim) {
        Some("__all__") => return all(),
        Some(f) if !f.is_empty() => f
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        _ if default.is_empty() => return all(),
        _ => default.iter().map(|s| (*s).to_owned()).collect(),
    };
    let mut out: Vec<String> = Vec::new();
    for field in requested {
        if field.split('.').any(|s| s == "*") {
            let pattern: Vec<&str> = field.split('.').collect();
            let mut found: Vec<String> =
                all().into_iter().filter(|k| matches(&pattern, k)).collect();
            found.sort();
            for k in found {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        } else if !out.contains(&field) {
            out.push(field);
        }
    }
    out
}

/// A cell as Python's csv module writes the original's values.
fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::Bool(true)) => "True".into(),
        Some(Value::Bool(false)) => "False".into(),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.1}"),
            _ => n.to_string(),
        },
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Renders rows as CSV or TSV.
pub(crate) fn tabular(
    values: &[Value],
    fields: Option<&str>,
    labels: Option<&str>,
    default: &[&str],
    delimiter: u8,
) -> Result<Vec<u8>, Error> {
    let rows: Vec<Map<String, Value>> = values.iter().map(flatten).collect();
    let cols = columns(&rows, fields, default);
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(Vec::new());
    let write_err = |e: csv::Error| Error::Internal(format!("cannot write CSV: {e}"));
    match labels.map(str::trim) {
        Some("__hidden__") => {}
        None | Some("") | Some("__original__") => w.write_record(&cols).map_err(write_err)?,
        Some(custom) => {
            let mut names: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
            for pair in custom.split(',') {
                let (k, v) = pair.split_once(':').ok_or_else(|| {
                    Error::invalid(
                        "labels",
                        "invalid",
                        format!(
                            "\"{pair}\" is not field:Label (or use __hidden__ or __original__)"
                        ),
                    )
                })?;
                names.insert(k.trim(), v.trim());
            }
            let header: Vec<&str> = cols
                .iter()
                .map(|c| names.get(c.as_str()).copied().unwrap_or(c))
                .collect();
            w.write_record(&header).map_err(write_err)?;
        }
    }
    for row in &rows {
        w.write_record(cols.iter().map(|c| cell(row.get(c))))
            .map_err(write_err)?;
    }
    w.into_inner()
        .map_err(|e| Error::Internal(format!("cannot write CSV: {e}")))
}

/// Page asked for with `page`/`page_size` or `limit`/`offset` (opt-in: the
/// original's clients expect a bare array).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) offset: u64,
    pub(crate) limit: u64,
}

/// Largest page.
pub(crate) const MAX_PAGE_SIZE: u64 = 1000;
/// Page size when only `page` is given.
pub(crate) const DEFAULT_PAGE_SIZE: u64 = 100;
/// Largest number of rows a page may skip: far beyond any incident count,
/// small enough that offset arithmetic and the database's 64-bit `OFFSET`
/// never overflow.
pub(crate) const MAX_OFFSET: u64 = 1_000_000_000;

/// Options every list endpoint reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListOptions {
    pub(crate) format: Option<String>,
    pub(crate) fields: Option<String>,
    pub(crate) labels: Option<String>,
    pub(crate) page: Option<Page>,
    /// `page` numbering was used (for `next`/`previous` links).
    pub(crate) numbered: bool,
}

impl ListOptions {
    /// Takes the rendering and paging parameters out of `query`; returns problems for bad values.
    pub(crate) fn take(
        query: &[(String, String)],
        problems: &mut Vec<crate::Problem>,
    ) -> ListOptions {
        let get = |name: &str| {
            query
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut number = |name: &str, min: u64, max: u64| -> Option<u64> {
            let v = get(name)?;
            match v.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Some(n),
                _ => {
                    problems.push(crate::Problem::field(
                        name,
                        "invalid",
                        format!("{name} must be a whole number from {min} to {max} (got \"{v}\")"),
                    ));
                    None
                }
            }
        };
        let page_number = number("page", 1, MAX_OFFSET / MAX_PAGE_SIZE + 1);
        // Larger sizes are served as the largest page, as before.
        let page_size = number("page_size", 1, u64::MAX);
        let limit = number("limit", 1, u64::MAX);
        let offset = number("offset", 0, MAX_OFFSET);
        let clamp = |n: u64| n.min(MAX_PAGE_SIZE);
        let (page, numbered) = if page_number.is_some() || page_size.is_some() {
            let size = clamp(page_size.unwrap_or(DEFAULT_PAGE_SIZE));
            (
                Some(Page {
                    // Bounded above: at most MAX_OFFSET + MAX_PAGE_SIZE.
                    offset: (page_number.unwrap_or(1) - 1).saturating_mul(size),
                    limit: size,
                }),
                true,
            )
        } else if limit.is_some() || offset.is_some() {
            (
                Some(Page {
                    offset: offset.unwrap_or(0),
                    limit: clamp(limit.unwrap_or(DEFAULT_PAGE_SIZE)),
                }),
                false,
            )
        } else {
            (None, false)
        };
        ListOptions {
            format: get("format"),
            fields: get("fields"),
            labels: get("labels"),
            page,
            numbered,
        }
    }
}

/// The DRF envelope of a page.
#[derive(Serialize)]
struct Envelope<'a, T: ?Sized> {
    count: u64,
    next: Option<String>,
    previous: Option<String>,
    results: &'a T,
}

fn json_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut body = Vec::with_capacity(4096);
    serde_json::to_writer(&mut body, value)
        .map_err(|e| Error::Internal(format!("cannot write JSON: {e}")))?;
    Ok(body)
}

/// Renders a list: a bare array (JSON) or rows (CSV/TSV); with a page, the
/// DRF envelope `{count, next, previous, results}` (JSON) or an `X-Total-Count`
/// header. `items` serializes as a sequence; JSON is written straight from it.
pub(crate) fn render_list<T: Serialize + ?Sized>(
    items: &T,
    total: Option<u64>,
    options: &ListOptions,
    format: Format,
    default_columns: &[&str],
    uri: &axum::http::Uri,
) -> Result<Rendered, Error> {
    match format {
        Format::Json => {
            let body = match (options.page, total) {
                (Some(page), Some(count)) => {
                    let link =
                        |offset: Option<u64>| offset.map(|o| page_link(uri, options, page, o));
                    let end = page.offset.saturating_add(page.limit);
                    let next = (end < count).then_some(end);
                    let previous =
                        (page.offset > 0).then(|| page.offset.saturating_sub(page.limit));
                    json_bytes(&Envelope {
                        count,
                        next: link(next),
                        previous: link(previous),
                        results: items,
                    })?
                }
                _ => json_bytes(items)?,
            };
            Ok(Rendered::new("application/json", total, body))
        }
        Format::Csv | Format::Tsv => {
            let (delimiter, media) = if format == Format::Csv {
                (b',', "text/csv; charset=utf-8")
            } else {
                (b'\t', "text/tab-separated-values; charset=utf-8")
            };
            let values = match serde_json::to_value(items) {
                Ok(Value::Array(values)) => values,
                Ok(other) => vec![other],
                Err(e) => return Err(Error::Internal(e.to_string())),
            };
            let body = tabular(
                &values,
                options.fields.as_deref(),
                options.labels.as_deref(),
                default_columns,
                delimiter,
            )?;
            Ok(Rendered::new(media, total, body))
        }
    }
}

/// Renders one object.
pub(crate) fn render_one<T: Serialize>(
    item: &T,
    options: &ListOptions,
    format: Format,
    default_columns: &[&str],
) -> Result<Rendered, Error> {
    match format {
        Format::Json => Ok(Rendered::new("application/json", None, json_bytes(item)?)),
        Format::Csv | Format::Tsv => {
            let options = ListOptions {
                page: None,
                ..options.clone()
            };
            render_list(
                &[item],
                None,
                &options,
                format,
                default_columns,
                &axum::http::Uri::default(),
            )
        }
    }
}

/// [`render_list`] as a response.
pub(crate) fn list_response(
    values: Vec<Value>,
    total: Option<u64>,
    options: &ListOptions,
    format: Format,
    default_columns: &[&str],
    uri: &axum::http::Uri,
) -> Result<Response, Error> {
    render_list(&values, total, options, format, default_columns, uri).map(Rendered::plain)
}

/// [`render_one`] as a response.
pub(crate) fn one_response(
    value: Value,
    options: &ListOptions,
    format: Format,
    default_columns: &[&str],
) -> Result<Response, Error> {
    render_one(&value, options, format, default_columns).map(Rendered::plain)
}

fn page_link(uri: &axum::http::Uri, options: &ListOptions, page: Page, offset: u64) -> String {
    let kept: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .filter(|(k, _)| !matches!(k.as_str(), "page" | "page_size" | "limit" | "offset"))
                .collect()
        })
        .unwrap_or_default();
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.extend_pairs(kept);
    if options.numbered {
        s.append_pair("page", &(offset / page.limit.max(1) + 1).to_string());
        s.append_pair("page_size", &page.limit.to_string());
    } else {
        s.append_pair("limit", &page.limit.to_string());
        s.append_pair("offset", &offset.to_string());
    }
    format!("{}?{}", uri.path(), s.finish())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn csv(
        values: &[Value],
        fields: Option<&str>,
        labels: Option<&str>,
        default: &[&str],
    ) -> String {
        String::from_utf8(tabular(values, fields, labels, default, b',').unwrap()).unwrap()
    }

    #[test]
    fn nested_values_are_flattened() {
        let v = json!({"a": 1, "b": {"c": true, "d": [1, 2]}, "e": {}, "f": null});
        let flat = flatten(&v);
        assert_eq!(flat.get("b.c"), Some(&json!(true)));
        assert_eq!(flat.get("b.d.1"), Some(&json!(2)));
        assert_eq!(flat.get("e"), Some(&Value::Null));
    }

    #[test]
    fn fields_wildcards_labels() {
        let rows = [
            json!({"id": 1, "metrics": {"ttd": {"s": 1.0}, "ttm": {"s": 2.5}}, "ok": false}),
            json!({"id": 2, "metrics": {"tta": {"s": 3.0}}, "ok": true}),
        ];
        assert_eq!(
            csv(&rows, Some("id,metrics.*.s,missing"), None, &[]),
            "id,metrics.tta.s,metrics.ttd.s,metrics.ttm.s,missing\n1,,1.0,2.5,\n2,3.0,,,\n"
        );
        assert_eq!(
            csv(&rows, Some("ok,id"), Some("__hidden__"), &[]),
            "False,1\nTrue,2\n"
        );
        assert_eq!(
            csv(&rows, Some("id,ok"), Some("id:Number"), &[]),
            "Number,ok\n1,False\n2,True\n"
        );
        assert_eq!(csv(&rows, None, None, &["ok"]), "ok\nFalse\nTrue\n");
        assert!(
            csv(&rows, Some("__all__"), None, &["ok"])
                .starts_with("id,metrics.tta.s,metrics.ttd.s,metrics.ttm.s,ok\n")
        );
    }

    #[test]
    fn accept_header_is_negotiated() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            m
        };
        assert_eq!(negotiate(None, &HeaderMap::new()).unwrap(), Format::Json);
        assert_eq!(negotiate(None, &h("text/csv")).unwrap(), Format::Csv);
        assert_eq!(
            negotiate(None, &h("text/csv;q=0.5, text/tab-separated-values")).unwrap(),
            Format::Tsv
        );
        assert_eq!(
            negotiate(Some("csv"), &h("application/json")).unwrap(),
            Format::Csv
        );
        assert!(negotiate(None, &h("image/png")).is_err());
        assert!(negotiate(Some("xml"), &HeaderMap::new()).is_err());
    }
}
