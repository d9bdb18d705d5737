//! The simulator's outputs: `bench/sim.json` (a list of runs, the keys docs/SYNC.md
//! lists) and `bench/SIM.md` (the same as a table).

use super::Report;

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "null".to_string(), |x| format!("{x:.1}"))
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |x| format!("{x:.0}"))
}

/// One run as a JSON object.
pub fn json_run(r: &Report) -> String {
    let sc = &r.scenario;
    let hops: Vec<String> = r
        .idle
        .rounds_by_hops
        .iter()
        .enumerate()
        .filter(|(_, c)| c.0 > 0)
        .map(|(h, c)| format!("\"{h}\":[{},{}]", c.0, c.1))
        .collect();
    format!(
        concat!(
            "{{\"strategy\":\"{}\",\"default\":{},\"nodes\":{},\"topology\":\"{}\",",
            "\"loss\":{},\"legacy_share\":{},\"legacy_nodes\":{},\"seed\":{},",
            "\"poll_interval_s\":{},",
            "\"spread_p99_s\":{},\"spread_max_s\":{},\"spread_median_s\":{},",
            "\"messages\":{},\"complete\":{},",
            "\"idle_requests_served_per_node_min\":{:.1},",
            "\"idle_requests_served_per_node_min_max\":{:.1},",
            "\"idle_bytes_per_node_min\":{:.0},",
            "\"idle_legacy_requests_served_per_node_min\":{:.1},",
            "\"heal_s\":{},\"partition_s\":{},",
            "\"load_bytes_per_node_min\":{},",
            "\"idle_rounds_by_hops\":{{{}}},",
            "\"simulated_s\":{:.0},\"wall_s\":{:.1}}}"
        ),
        sc.strategy.name(),
        sc.default,
        sc.nodes,
        sc.topology.name(),
        sc.loss,
        sc.legacy_share,
        r.legacy_nodes,
        sc.seed,
        sc.interval_ms / 1000,
        num(r.spread_p99()),
        num(r.spread_max()),
        num(r.spread_median()),
        r.spread.len(),
        r.complete(),
        r.idle_requests_mean(),
        r.idle_requests_max(),
        r.idle_bytes(),
        r.idle_legacy_requests_mean(),
        num(r.heal_s),
        sc.partition_s,
        r.load_bytes()
            .map_or_else(|| "null".to_string(), |b| format!("{b:.0}")),
        hops.join(","),
        r.simulated_s,
        r.wall_s,
    )
}

/// Every run, as the JSON list of `bench/sim.json`.
pub fn json(runs: &[Report]) -> String {
    let mut out = String::from("[\n");
    for (i, r) in runs.iter().enumerate() {
        out.push_str("  ");
        out.push_str(&json_run(r));
        out.push_str(if i + 1 < runs.len() { ",\n" } else { "\n" });
    }
    out.push_str("]\n");
    out
}

/// The table's header.
pub const HEADER: &str = "| strategy | nodes | topology | loss | legacy | idle req/node/min (mean / max) | legacy pulls served/node/min | idle B/node/min | load B/node/min | spread p99 s | spread max s | heal s | all delivered |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";

/// One run as a table row.
pub fn row(r: &Report) -> String {
    let sc = &r.scenario;
    format!(
        "| {}{} | {} | {} | {:.0}% | {} | {:.1} / {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {} |\n",
        sc.strategy.name(),
        if sc.default { " (default)" } else { "" },
        sc.nodes,
        sc.topology.name(),
        sc.loss * 100.0,
        r.legacy_nodes,
        r.idle_requests_mean(),
        r.idle_requests_max(),
        r.idle_legacy_requests_mean(),
        r.idle_bytes(),
        r.load_bytes().map_or_else(|| "—".to_string(), |b| format!("{b:.0}")),
        cell(r.spread_p99()),
        cell(r.spread_max()),
        if sc.partition_s == 0 {
            "—".to_string()
        } else {
            cell(r.heal_s)
        },
        if r.spread.is_empty() && sc.partition_s == 0 {
            "—"
        } else if r.complete() {
            "yes"
        } else {
            "NO"
        },
    )
}

/// Pull rounds by hop count in the idle window: "hops: answered/tried".
pub fn hops(r: &Report) -> String {
    r.idle
        .rounds_by_hops
        .iter()
        .enumerate()
        .filter(|(_, c)| c.0 > 0)
        .map(|(h, c)| format!("{h}: {:.0}% of {}", 100.0 * c.1 as f64 / c.0 as f64, c.0))
        .collect::<Vec<_>>()
        .join(", ")
        + &format!(
            "; hints in the load window: {}",
            r.load.as_ref().map_or(0, |l| l.hints)
        )
}
