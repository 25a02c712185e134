//! A query's plan, as the database tells it, without reading the rows: `EXPLAIN QUERY PLAN`
//! (SQLite), `EXPLAIN (FORMAT JSON)` (PostgreSQL; CockroachDB's `EXPLAIN`), a traced first
//! page (CQL) and the `explain` command (MongoDB). The playground shows the tree; the
//! database's own answer comes with it.

use serde::Serialize;

/// A database's plan for one query.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    /// How the plan was asked for, e.g. `EXPLAIN QUERY PLAN`.
    pub method: String,
    /// The plan's steps as a tree, each a readable line.
    pub tree: Vec<PlanNode>,
    /// The database's own answer: EXPLAIN's rows, its JSON plan, trace events or the
    /// explain document.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub raw: serde_json::Value,
}

/// One step of a plan and the steps under it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanNode {
    /// What the step does, e.g. `SCAN flights USING INDEX flights_route (origin=?)`.
    pub label: String,
    /// The steps it reads from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub children: Vec<PlanNode>,
}

impl PlanNode {
    /// A step with nothing under it.
    pub fn leaf(label: impl Into<String>) -> Self {
        PlanNode {
            label: label.into(),
            children: Vec::new(),
        }
    }
}

/// The tree of `(id, parent, label)` rows whose parent is another row's id (0: the root),
/// as SQLite's `EXPLAIN QUERY PLAN` gives them: each row after its parent.
pub fn tree_of_rows(rows: &[(i64, i64, String)]) -> Vec<PlanNode> {
    fn children(rows: &[(i64, i64, String)], parent: i64) -> Vec<PlanNode> {
        rows.iter()
            .filter(|(id, p, _)| *p == parent && *id != parent)
            .map(|(id, _, label)| PlanNode {
                label: label.clone(),
                children: children(rows, *id),
            })
            .collect()
    }
    children(rows, 0)
}

/// The tree of lines indented by depth, as CockroachDB's `EXPLAIN` draws it (`• scan`
/// under `• filter`, with `│`, `├──` and `└──`); detail lines (`table: flights@primary`)
/// go under the step they follow.
pub fn tree_of_lines(lines: &[String]) -> Vec<PlanNode> {
    let mut roots: Vec<PlanNode> = Vec::new();
    // The open steps, by their depth.
    let mut path: Vec<(usize, Vec<usize>)> = Vec::new();
    for line in lines {
        let text = line.trim_start_matches([' ', '│', '├', '└', '─']);
        if text.trim().is_empty() {
            continue;
        }
        let depth = line.chars().count() - text.chars().count();
        let is_step = text.starts_with('•');
        let label = text.trim_start_matches('•').trim().to_owned();
        while path.last().is_some_and(|(d, _)| *d >= depth && is_step) {
            path.pop();
        }
        let siblings = match path.last() {
            Some((_, at)) => &mut node_at(&mut roots, at).children,
            None => &mut roots,
        };
        siblings.push(PlanNode::leaf(label));
        if is_step {
            let mut at = path.last().map(|(_, at)| at.clone()).unwrap_or_default();
            at.push(siblings.len() - 1);
            path.push((depth, at));
        }
    }
    roots
}

fn node_at<'a>(roots: &'a mut [PlanNode], at: &[usize]) -> &'a mut PlanNode {
    let (first, rest) = at.split_first().expect("a path is never empty");
    rest.iter()
        .fold(&mut roots[*first], |node, i| &mut node.children[*i])
}

/// The tree of PostgreSQL's `EXPLAIN (FORMAT JSON)`: each node `Node Type on Relation
/// (Index Name) [cond] (cost=… rows=…)`, its `Plans` under it.
pub fn tree_of_postgres(plan: &serde_json::Value) -> Vec<PlanNode> {
    fn node(plan: &serde_json::Value) -> PlanNode {
        let text = |key: &str| plan.get(key).and_then(|v| v.as_str());
        let mut label = text("Node Type").unwrap_or("?").to_owned();
        if let Some(join) = text("Join Type") {
            label = format!("{join} {label}");
        }
        // `Finalize Aggregate (Sorted)`, `Partial Aggregate (Hashed)`.
        if let Some(mode) = text("Partial Mode").filter(|m| *m != "Simple") {
            label = format!("{mode} {label}");
        }
        if let Some(strategy) = text("Strategy").filter(|s| *s != "Plain") {
            label.push_str(&format!(" ({strategy})"));
        }
        if let Some(relation) = text("Relation Name") {
            label.push_str(&format!(" on {relation}"));
        }
        if let Some(index) = text("Index Name") {
            label.push_str(&format!(" using {index}"));
        }
        for key in ["Index Cond", "Hash Cond", "Filter", "Sort Key"] {
            match plan.get(key) {
                Some(serde_json::Value::String(cond)) => label.push_str(&format!(" [{cond}]")),
                Some(serde_json::Value::Array(keys)) => {
                    let keys: Vec<&str> = keys.iter().filter_map(|k| k.as_str()).collect();
                    label.push_str(&format!(" [{}]", keys.join(", ")));
                }
                _ => {}
            }
        }
        if let (Some(cost), Some(rows)) = (plan.get("Total Cost"), plan.get("Plan Rows")) {
            label.push_str(&format!(" (cost={cost} rows={rows})"));
        }
        PlanNode {
            label,
            children: plan
                .get("Plans")
                .and_then(|p| p.as_array())
                .map(|plans| plans.iter().map(node).collect())
                .unwrap_or_default(),
        }
    }
    // `[{"Plan": {...}}]`
    plan.as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get("Plan"))
        .map(node)
        .collect()
}

/// The tree of MongoDB's `explain` (`queryPlanner.winningPlan`): each stage with its index
/// or filter, its `inputStage`(s) under it. A server that answers in another shape
/// (FerretDB) gets its top-level fields as lines.
pub fn tree_of_mongo(explained: &serde_json::Value) -> Vec<PlanNode> {
    fn stage(plan: &serde_json::Value) -> PlanNode {
        let mut label = plan
            .get("stage")
            .and_then(|s| s.as_str())
            .unwrap_or("?")
            .to_owned();
        if let Some(index) = plan.get("indexName").and_then(|s| s.as_str()) {
            label.push_str(&format!(" {index}"));
        }
        for key in ["keyPattern", "filter", "sortPattern"] {
            if let Some(value) = plan.get(key) {
                label.push_str(&format!(" {key} {value}"));
            }
        }
        let mut children = Vec::new();
        if let Some(input) = plan.get("inputStage") {
            children.push(stage(input));
        }
        if let Some(inputs) = plan.get("inputStages").and_then(|s| s.as_array()) {
            children.extend(inputs.iter().map(stage));
        }
        PlanNode { label, children }
    }
    let winning = explained
        .pointer("/queryPlanner/winningPlan")
        .or_else(|| explained.pointer("/stages/0/$cursor/queryPlanner/winningPlan"));
    match winning {
        Some(plan) if plan.get("stage").is_some() => vec![stage(plan)],
        _ => explained
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(key, _)| !matches!(key.as_str(), "ok" | "command" | "serverInfo"))
            .map(|(key, value)| PlanNode::leaf(format!("{key}: {value}")))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(nodes: &[PlanNode]) -> Vec<String> {
        nodes
            .iter()
            .map(|n| match n.children.as_slice() {
                [] => n.label.clone(),
                children => format!("{} ({})", n.label, labels(children).join(", ")),
            })
            .collect()
    }

    #[test]
    fn sqlite_rows_nest_by_parent() {
        let rows = [
            (2, 0, "SCAN flights".to_owned()),
            (5, 0, "USE TEMP B-TREE FOR ORDER BY".to_owned()),
            (7, 0, "SCALAR SUBQUERY 1".to_owned()),
            (9, 7, "SEARCH airlines USING INDEX x (carrier=?)".to_owned()),
        ];
        assert_eq!(
            labels(&tree_of_rows(&rows)),
            [
                "SCAN flights",
                "USE TEMP B-TREE FOR ORDER BY",
                "SCALAR SUBQUERY 1 (SEARCH airlines USING INDEX x (carrier=?))"
            ]
        );
    }

    #[test]
    fn cockroach_lines_nest_by_indent() {
        let lines = [
            "distribution: local",
            "",
            "• filter",
            "│ filter: origin = 'JFK'",
            "│",
            "└── • scan",
            "      table: flights@flights_pkey",
            "      spans: FULL SCAN",
        ]
        .map(String::from);
        assert_eq!(
            labels(&tree_of_lines(&lines)),
            [
                "distribution: local",
                "filter (filter: origin = 'JFK', scan (table: flights@flights_pkey, spans: FULL SCAN))"
            ]
        );
    }

    #[test]
    fn postgres_json_nests_plans() {
        let plan = json!([{"Plan": {
            "Node Type": "Sort", "Sort Key": ["dep_delay DESC"], "Total Cost": 10.5, "Plan Rows": 3,
            "Plans": [{"Node Type": "Seq Scan", "Relation Name": "flights",
                       "Filter": "(origin = 'JFK'::text)", "Total Cost": 9.0, "Plan Rows": 3}]
        }}]);
        assert_eq!(
            labels(&tree_of_postgres(&plan)),
            [
                "Sort [dep_delay DESC] (cost=10.5 rows=3) (Seq Scan on flights [(origin = 'JFK'::text)] (cost=9.0 rows=3))"
            ]
        );
    }

    #[test]
    fn mongo_stages_nest_and_other_shapes_list_their_fields() {
        let explained = json!({"queryPlanner": {"winningPlan": {
            "stage": "FETCH", "inputStage": {"stage": "IXSCAN", "indexName": "origin_1",
                                               "keyPattern": {"origin": 1}}}}, "ok": 1});
        assert_eq!(
            labels(&tree_of_mongo(&explained)),
            ["FETCH (IXSCAN origin_1 keyPattern {\"origin\":1})"]
        );
        let other = json!({"queryPlanner": {"Plan": {"Node Type": "Seq Scan"}}, "pushdown": true, "ok": 1.0});
        assert_eq!(
            labels(&tree_of_mongo(&other)),
            [
                "queryPlanner: {\"Plan\":{\"Node Type\":\"Seq Scan\"}}",
                "pushdown: true"
            ]
        );
    }
}
