//! Label selectors (`-l`), with kubectl's syntax: `k=v`, `k==v`, `k!=v`, `k`, `!k`,
//! `k in (a,b)`, `k notin (a,b)`, joined by commas.

use crate::object::Object;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
    text: String,
}

impl Selector {
    /// Parses kubectl's selector syntax; the error names the part that is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let bad = || format!("invalid label selector {text:?}: cannot parse {part:?}");
            let req = if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(key(k).ok_or_else(bad)?, v.trim().to_string())
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(key(k).ok_or_else(bad)?, v.trim().to_string())
            } else if let Some(k) = part.strip_prefix('!') {
                Requirement::NotExists(key(k).ok_or_else(bad)?)
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                Requirement::NotIn(key(k).ok_or_else(bad)?, set(rest).ok_or_else(bad)?)
            } else if let Some((k, rest)) = part.split_once(" in ") {
                Requirement::In(key(k).ok_or_else(bad)?, set(rest).ok_or_else(bad)?)
            } else {
                Requirement::Exists(key(part).ok_or_else(bad)?)
            };
            requirements.push(req);
        }
        Ok(Selector { requirements, text: text.to_string() })
    }

    /// Whether an object's labels satisfy every requirement.
    pub fn matches(&self, obj: &Object) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => obj.label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => obj.label(k) != Some(v.as_str()),
            Requirement::Exists(k) => obj.label(k).is_some(),
            Requirement::NotExists(k) => obj.label(k).is_none(),
            Requirement::In(k, vs) => obj.label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => obj.label(k).is_none_or(|l| vs.iter().all(|v| v != l)),
        })
    }

    /// A Kubernetes `LabelSelector` (`matchLabels`, `matchExpressions` with `In`, `NotIn`,
    /// `Exists`, `DoesNotExist`), as ResourceSets and Deployments write it. An unknown operator
    /// is an error naming it; an empty selector matches everything, as the API server has it.
    pub fn from_label_selector(selector: &crate::json::Json) -> Result<Self, String> {
        let mut requirements = Vec::new();
        let mut text = Vec::new();
        for (k, v) in selector.get("matchLabels").and_then(|m| m.as_object()).into_iter().flat_map(|m| m.iter()) {
            let v = v.as_str().unwrap_or_default().to_string();
            text.push(format!("{k}={v}"));
            requirements.push(Requirement::Equals(k.to_string(), v));
        }
        for e in selector.get("matchExpressions").and_then(|m| m.as_array()).into_iter().flatten() {
            let key = e.get("key").and_then(|k| k.as_str()).unwrap_or_default().to_string();
            let values: Vec<String> = e
                .get("values")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let set = values.join(",");
            let (req, typed) = match e.get("operator").and_then(|o| o.as_str()).unwrap_or_default() {
                "In" => (Requirement::In(key.clone(), values), format!("{key} in ({set})")),
                "NotIn" => (Requirement::NotIn(key.clone(), values), format!("{key} notin ({set})")),
                "Exists" => (Requirement::Exists(key.clone()), key.clone()),
                "DoesNotExist" => (Requirement::NotExists(key.clone()), format!("!{key}")),
                other => {
                    return Err(format!("label selector operator {other:?} is not In, NotIn, Exists or DoesNotExist"));
                }
            };
            text.push(typed);
            requirements.push(req);
        }
        Ok(Selector { requirements, text: text.join(",") })
    }

    /// The selector as typed.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn key(k: &str) -> Option<String> {
    let k = k.trim();
    let ok = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    ok.then(|| k.to_string())
}

fn set(rest: &str) -> Option<Vec<String>> {
    let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect())
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(labels: serde_json::Value) -> Object {
        Object::from_value(
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": labels}}),
        )
        .unwrap()
    }

    #[test]
    fn matches_like_kubectl() {
        let o = obj(serde_json::json!({"team": "a", "tier": "web"}));
        for (sel, want) in [
            ("team=a", true),
            ("team==a,tier=web", true),
            ("team!=a", false),
            ("team", true),
            ("!team", false),
            ("tier in (web, db)", true),
            ("tier notin (web)", false),
            ("missing notin (x)", true),
            ("", true),
        ] {
            assert_eq!(Selector::parse(sel).unwrap().matches(&o), want, "{sel}");
        }
        assert!(Selector::parse("a in b").unwrap_err().contains("\"a in b\""));
        assert!(Selector::parse("=x").is_err());
    }

    #[test]
    fn reads_a_kubernetes_label_selector() {
        let o = obj(serde_json::json!({"team": "a", "tier": "web"}));
        let json = |v: serde_json::Value| crate::json::Json::from(v);
        let s = Selector::from_label_selector(&json(serde_json::json!({
            "matchLabels": {"team": "a"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "db"]}, {"key": "gone", "operator": "DoesNotExist"}],
        })))
        .unwrap();
        assert!(s.matches(&o));
        assert_eq!(s.as_str(), "team=a,tier in (web,db),!gone");
        let other = Selector::from_label_selector(&json(serde_json::json!({"matchLabels": {"team": "b"}}))).unwrap();
        assert!(!other.matches(&o));
        assert!(Selector::from_label_selector(&json(serde_json::json!({}))).unwrap().matches(&o));
        let bad = json(serde_json::json!({"matchExpressions": [{"key": "x", "operator": "Gt"}]}));
        assert!(Selector::from_label_selector(&bad).unwrap_err().contains("\"Gt\""));
    }
}
