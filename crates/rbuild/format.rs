//! `--format` as the docker CLI takes it: `table`, `json`, or a Go
//! template over the fields of each row (`{{.Repository}}:{{.Tag}}`,
//! `{{json .Config}}`, `{{range .RepoTags}}{{.}} {{end}}`), with docker's
//! functions `json`, `index`, `join`, `upper`, `lower`, `len`; and the
//! units docker prints (`4.26MB`, `2 hours ago`), columns aligned as its
//! tabwriter aligns them.

use std::collections::BTreeMap;

use serde_json::Value;

/// A parsed `--format`.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    nodes: Vec<Node>,
    /// `table …`: a header line first, columns aligned.
    pub(crate) table: bool,
}

#[derive(Clone, Debug)]
enum Node {
    Text(String),
    Action(Expr),
    Range(Expr, Vec<Node>),
}

#[derive(Clone, Debug)]
enum Expr {
    /// `.` or `.A.B`.
    Path(Vec<String>),
    /// A string or number literal.
    Literal(Value),
    /// `name arg…`.
    Call(String, Vec<Expr>),
}

impl Template {
    /// Parses `text`; `table` and `\t`/`\n` escapes as docker reads them.
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let (table, body) = match text.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, text),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut tokens = Vec::new();
        let mut rest = body.as_str();
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                tokens.push((false, rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end =
                after.find("}}").ok_or_else(|| format!("template: unclosed action in {text:?}"))?;
            tokens.push((true, after[..end].trim().to_owned()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            tokens.push((false, rest.to_owned()));
        }
        let mut iter = tokens.into_iter();
        let nodes = parse_nodes(&mut iter, text, false)?;
        Ok(Template { nodes, table })
    }

    /// The template applied to `value`.
    pub(crate) fn render(&self, value: &Value) -> Result<String, String> {
        let mut out = String::new();
        render_nodes(&self.nodes, value, &mut out)?;
        Ok(out)
    }

    /// The header line of a `table` template: each `{{.Field}}` as
    /// `headers` names it (else in capitals), the text between kept.
    pub(crate) fn header(&self, headers: &BTreeMap<&str, &str>) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Action(Expr::Path(path)) if path.len() == 1 => {
                    let field = path[0].as_str();
                    match headers.get(field) {
                        Some(h) => out.push_str(h),
                        None => out.push_str(&field.to_uppercase()),
                    }
                }
                _ => {}
            }
        }
        out
    }
}

fn parse_nodes(
    tokens: &mut impl Iterator<Item = (bool, String)>,
    text: &str,
    in_range: bool,
) -> Result<Vec<Node>, String> {
    let mut nodes = Vec::new();
    while let Some((action, body)) = tokens.next() {
        if !action {
            nodes.push(Node::Text(body));
            continue;
        }
        if body == "end" {
            if in_range {
                return Ok(nodes);
            }
            return Err(format!("template: unexpected {{{{end}}}} in {text:?}"));
        }
        if let Some(arg) = body.strip_prefix("range ") {
            let expr = parse_expr(arg.trim(), text)?;
            let inner = parse_nodes(tokens, text, true)?;
            nodes.push(Node::Range(expr, inner));
            continue;
        }
        nodes.push(Node::Action(parse_expr(&body, text)?));
    }
    if in_range {
        return Err(format!("template: {{{{range}}}} without {{{{end}}}} in {text:?}"));
    }
    Ok(nodes)
}

fn parse_expr(body: &str, text: &str) -> Result<Expr, String> {
    let words = split_words(body);
    let Some(first) = words.first() else {
        return Err(format!("template: empty action in {text:?}"));
    };
    if words.len() == 1 {
        return parse_arg(first, text);
    }
    const FUNCS: [&str; 6] = ["json", "index", "join", "upper", "lower", "len"];
    if !FUNCS.contains(&first.as_str()) {
        return Err(format!(
            "template: function {first:?} not defined (have {})",
            FUNCS.join(", ")
        ));
    }
    let args = words[1..].iter().map(|w| parse_arg(w, text)).collect::<Result<_, _>>()?;
    Ok(Expr::Call(first.clone(), args))
}

fn parse_arg(word: &str, text: &str) -> Result<Expr, String> {
    if word == "." {
        return Ok(Expr::Path(Vec::new()));
    }
    if let Some(path) = word.strip_prefix('.') {
        return Ok(Expr::Path(path.split('.').map(str::to_owned).collect()));
    }
    if let Some(s) = word.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        return Ok(Expr::Literal(Value::String(s.replace("\\t", "\t").replace("\\n", "\n"))));
    }
    if let Ok(n) = word.parse::<i64>() {
        return Ok(Expr::Literal(Value::from(n)));
    }
    Err(format!("template: cannot read {word:?} in {text:?}"))
}

/// Words of an action, a quoted string being one word.
fn split_words(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in body.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                word.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn render_nodes(nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(expr) => out.push_str(&go_print(&eval(expr, dot)?)),
            Node::Range(expr, inner) => match eval(expr, dot)? {
                Value::Array(items) => {
                    for item in &items {
                        render_nodes(inner, item, out)?;
                    }
                }
                Value::Object(map) => {
                    for item in map.values() {
                        render_nodes(inner, item, out)?;
                    }
                }
                Value::Null => {}
                other => {
                    return Err(format!("template: range can't iterate over {}", go_print(&other)));
                }
            },
        }
    }
    Ok(())
}

fn eval(expr: &Expr, dot: &Value) -> Result<Value, String> {
    match expr {
        Expr::Literal(v) => Ok(v.clone()),
        Expr::Path(path) => {
            let mut value = dot;
            for key in path {
                match value {
                    Value::Object(map) => match map.get(key) {
                        Some(v) => value = v,
                        None => return Ok(Value::Null),
                    },
                    Value::Null => return Ok(Value::Null),
                    _ => return Err(format!("template: can't evaluate field {key}")),
                }
            }
            Ok(value.clone())
        }
        Expr::Call(name, args) => {
            let args: Vec<Value> = args.iter().map(|a| eval(a, dot)).collect::<Result<_, _>>()?;
            let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Null);
            Ok(match name.as_str() {
                "json" => Value::String(serde_json::to_string(&arg(0)).unwrap_or_default()),
                "upper" => Value::String(go_print(&arg(0)).to_uppercase()),
                "lower" => Value::String(go_print(&arg(0)).to_lowercase()),
                "len" => Value::from(match arg(0) {
                    Value::Array(a) => a.len(),
                    Value::Object(m) => m.len(),
                    Value::String(s) => s.len(),
                    _ => 0,
                }),
                "join" => {
                    let sep = go_print(&arg(1));
                    match arg(0) {
                        Value::Array(a) => {
                            Value::String(a.iter().map(go_print).collect::<Vec<_>>().join(&sep))
                        }
                        other => Value::String(go_print(&other)),
                    }
                }
                "index" => match (arg(0), arg(1)) {
                    (Value::Array(a), Value::Number(n)) => {
                        let i = n.as_u64().unwrap_or(u64::MAX) as usize;
                        a.get(i)
                            .cloned()
                            .ok_or_else(|| format!("template: index out of range: {i}"))?
                    }
                    (Value::Object(m), Value::String(k)) => {
                        m.get(&k).cloned().unwrap_or(Value::Null)
                    }
                    _ => Value::Null,
                },
                _ => Value::Null,
            })
        }
    }
}

/// A value as Go's templates print it: `[a b]`, `map[k:v]`, `<no value>`.
fn go_print(value: &Value) -> String {
    match value {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            format!("[{}]", items.iter().map(go_print).collect::<Vec<_>>().join(" "))
        }
        Value::Object(map) => format!(
            "map[{}]",
            map.iter().map(|(k, v)| format!("{k}:{}", go_print(v))).collect::<Vec<_>>().join(" ")
        ),
    }
}

/// Lines with tab-separated cells, aligned as docker's tabwriter does
/// (cell width at least 10, 3 spaces of padding; the last cell unpadded).
pub(crate) fn align(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in &rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count() + 3).max(10);
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(crate) use rbuild_llb::human_size;

/// A duration as docker says how long ago something was
/// (go-units' HumanDuration): `Less than a second`, `About an hour`,
/// `3 weeks`.
pub(crate) fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let minutes = s / 60;
    let hours = ((s as f64) / 3600.0 + 0.5) as i64;
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", s / 3600 / 24 / 365),
    }
}

/// A Unix time as docker's `CreatedAt` shows it (Go's `time.Time`
/// string, in UTC).
pub(crate) fn go_time(secs: i64) -> String {
    let text = rbuild_image::rfc3339(secs.max(0) as u64);
    // 2024-01-02T03:04:05Z → 2024-01-02 03:04:05 +0000 UTC
    format!("{} +0000 UTC", text.trim_end_matches('Z').replacen('T', " ", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_print_as_go_does() {
        let v = serde_json::json!({
            "Repository": "app", "Tag": "1", "Env": ["A=1", "B=2"],
            "Labels": {"b": "2", "a": "1"}, "Config": {"User": "app"}
        });
        let t = |f: &str| Template::parse(f).unwrap().render(&v).unwrap();
        assert_eq!(t("{{.Repository}}:{{.Tag}}"), "app:1");
        assert_eq!(t("{{.Env}}"), "[A=1 B=2]");
        assert_eq!(t("{{.Labels}}"), "map[a:1 b:2]");
        assert_eq!(t("{{.Config.User}} {{.Nope}}"), "app <no value>");
        assert_eq!(t("{{json .Env}}"), r#"["A=1","B=2"]"#);
        assert_eq!(t("{{index .Env 1}}|{{index .Labels \"a\"}}"), "B=2|1");
        assert_eq!(t("{{join .Env \",\"}}"), "A=1,B=2");
        assert_eq!(t("{{range .Env}}<{{.}}>{{end}}"), "<A=1><B=2>");
        assert_eq!(t("{{upper .Tag}}{{len .Env}}"), "12");
        assert_eq!(t(r"{{.Repository}}\t{{.Tag}}"), "app\t1");
        assert!(Template::parse("{{.A").is_err());
        assert!(Template::parse("{{range .A}}").is_err());
        assert!(Template::parse("{{printf .A}}").is_err());
        let table = Template::parse("table {{.Repository}}\t{{.ID}}").unwrap();
        assert!(table.table);
        let headers = BTreeMap::from([("ID", "IMAGE ID")]);
        assert_eq!(table.header(&headers), "REPOSITORY\tIMAGE ID");
    }

    #[test]
    fn columns_sizes_and_durations_as_docker_prints_them() {
        let lines = vec![
            "REPOSITORY\tTAG\tIMAGE ID\tSIZE".to_owned(),
            "busybox\tlatest\ta416a98b71e2\t4.26MB".to_owned(),
        ];
        assert_eq!(
            align(&lines),
            "REPOSITORY   TAG       IMAGE ID       SIZE\nbusybox      latest    a416a98b71e2   4.26MB\n"
        );
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(117_300_000), "117MB");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1_500), "1.5kB");
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999_999), "1e+03kB");
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(2 * 3600), "2 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(21 * 86400), "3 weeks");
        assert_eq!(human_duration(90 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
        assert_eq!(go_time(0), "1970-01-01 00:00:00 +0000 UTC");
    }
}
