//! `meshchat-sim`: runs the mesh simulator (docs/SYNC.md, "The simulator").
//!
//! ```text
//! meshchat-sim [--matrix] [--quick] [--nodes N] [--strategy gossip-3|all-peers]
//!              [--topology aredn|line|star|line5+branch] [--loss 0.1] [--legacy 0.1]
//!              [--partition SECS] [--messages N] [--seed N] [--jobs 2] [--out DIR]
//! ```
//!
//! `--matrix` (what `make sim` runs) is N = 10, 100, 1000 on the AREDN-like mesh with
//! 10% loss, the default strategy with and without 10% legacy nodes, today's
//! all-peers strategy beside it, and the namespace test's mesh (`line5+branch`, 20%
//! loss, 200 ms per link, a link cut for 60 s). Without `--matrix`, one run as the
//! flags say. `--out DIR` writes `DIR/sim.json` and `DIR/SIM.md`.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use meshchat::sim::net::Topology;
use meshchat::sim::{report, NoObserver, Report, Scenario, Sim, Strategy, DEFAULT_FANOUT};

fn parse_strategy(s: &str) -> Option<Strategy> {
    match s {
        "all-peers" => Some(Strategy::AllPeers),
        "default" => Some(Strategy::from_fanout(DEFAULT_FANOUT)),
        _ => s
            .strip_prefix("gossip-")
            .and_then(|f| f.parse().ok())
            .map(Strategy::from_fanout),
    }
}

/// The namespace test's mesh: a line of five plus a branch, 20% loss, 200 ms each way
/// per link, the link 1–2 cut for 60 s.
fn namespace_mesh(strategy: Strategy) -> Scenario {
    let mut sc = Scenario::full(strategy, 6, 0.2, 0.0);
    sc.topology = Topology::LineFivePlusBranch;
    sc.partition_s = 60;
    sc.partition_messages = 6;
    sc.messages = 60;
    sc
}

fn matrix(quick: bool) -> Vec<Scenario> {
    let def = Strategy::from_fanout(DEFAULT_FANOUT);
    let sizes: &[usize] = if quick { &[10, 100] } else { &[10, 100, 1000] };
    let mut out = Vec::new();
    for &n in sizes {
        out.push(Scenario::full(def, n, 0.1, 0.0));
        // With legacy nodes the goal is that every message reaches every node: the
        // Lua nodes' own loops over every peer are slow, so they get longer, and the
        // partition (a goal without legacy nodes) is left out.
        let mut legacy = Scenario::full(def, n, 0.1, 0.1);
        legacy.partition_s = 0;
        legacy.spread_limit_s = 1200;
        out.push(legacy);
        let mut all = Scenario::full(Strategy::AllPeers, n, 0.1, 0.0);
        if n >= 1000 {
            // Today's strategy at 1,000 nodes moves millions of requests a simulated
            // minute: idle and spread only, shorter.
            all.warmup_s = 20;
            all.idle_s = 30;
            all.messages = 0;
            all.partition_s = 0;
        } else if n >= 100 {
            all.partition_s = 120;
        }
        out.push(all);
    }
    out.push(namespace_mesh(def));
    out.push(namespace_mesh(Strategy::AllPeers));
    out
}

struct Args {
    matrix: bool,
    quick: bool,
    jobs: usize,
    out: Option<String>,
    one: Scenario,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        matrix: false,
        quick: false,
        jobs: 2,
        out: None,
        one: Scenario::full(Strategy::from_fanout(DEFAULT_FANOUT), 100, 0.1, 0.0),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        let bad = |what: &str| format!("{flag}: not {what}");
        match flag.as_str() {
            "--matrix" => a.matrix = true,
            "--quick" => a.quick = true,
            "--jobs" => a.jobs = value()?.parse().map_err(|_| bad("a number"))?,
            "--out" => a.out = Some(value()?),
            "--nodes" => a.one.nodes = value()?.parse().map_err(|_| bad("a number"))?,
            "--strategy" => {
                a.one.strategy = parse_strategy(&value()?).ok_or_else(|| bad("a strategy"))?;
                a.one.default = a.one.strategy == Strategy::from_fanout(DEFAULT_FANOUT);
            }
            "--topology" => {
                let t = Topology::parse(&value()?).ok_or_else(|| bad("a topology"))?;
                if t == Topology::LineFivePlusBranch {
                    a.one = Scenario {
                        strategy: a.one.strategy,
                        default: a.one.default,
                        ..namespace_mesh(a.one.strategy)
                    };
                }
                a.one.topology = t;
            }
            "--loss" => a.one.loss = value()?.parse().map_err(|_| bad("a share"))?,
            "--legacy" => a.one.legacy_share = value()?.parse().map_err(|_| bad("a share"))?,
            "--partition" => a.one.partition_s = value()?.parse().map_err(|_| bad("seconds"))?,
            "--messages" => a.one.messages = value()?.parse().map_err(|_| bad("a number"))?,
            "--seed" => a.one.seed = value()?.parse().map_err(|_| bad("a number"))?,
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(a)
}

/// A run's place in the matrix, and its report.
type Finished = (usize, Result<Report, String>);

fn run_all(scenarios: Vec<Scenario>, jobs: usize) -> Result<Vec<Report>, String> {
    let total = scenarios.len();
    // The biggest meshes first (each job takes the last of the list): the long runs
    // start together and the short ones fill in, so the wall time is near the longest
    // run's, not that plus whatever ran before it on the same job.
    let mut work: Vec<(usize, Scenario)> = scenarios.into_iter().enumerate().collect();
    work.sort_by_key(|(i, sc)| (sc.nodes, std::cmp::Reverse(*i)));
    let work = Arc::new(Mutex::new(work));
    let done: Arc<Mutex<Vec<Finished>>> = Arc::default();
    let mut threads = Vec::new();
    for _ in 0..jobs.clamp(1, total.max(1)) {
        let (work, done) = (work.clone(), done.clone());
        threads.push(std::thread::spawn(move || loop {
            let next = work.lock().map(|mut w| w.pop()).ok().flatten();
            let Some((i, sc)) = next else { break };
            let mut obs = NoObserver;
            let r = Sim::new(sc, &mut obs)
                .map(Sim::run)
                .map_err(|e| e.to_string());
            if let Ok(r) = &r {
                eprint!("{}", report::row(r));
            }
            if let Ok(mut d) = done.lock() {
                d.push((i, r));
            }
        }));
    }
    for t in threads {
        t.join().map_err(|_| "a run panicked".to_string())?;
    }
    let mut done = std::mem::take(&mut *done.lock().map_err(|_| "lock".to_string())?);
    done.sort_by_key(|d| d.0);
    done.into_iter().map(|d| d.1).collect()
}

fn markdown(runs: &[Report], command: &str) -> String {
    let mut out = String::from("# Mesh simulator results\n\nWritten by `make sim` (`");
    out.push_str(command);
    out.push_str(
        "`): meshchat's own sync code over a simulated mesh; the simulator supplies only \
         transport and clock. Poll interval 10 s. Deterministic (seed 1): the same \
         command gives the same figures. What the columns mean: docs/SYNC.md, \"The \
         simulator\".\n\n",
    );
    out.push_str(report::HEADER);
    for r in runs {
        out.push_str(&report::row(r));
    }
    out.push_str("\nIdle pull rounds answered, by hop count (meshchat nodes):\n\n");
    for r in runs {
        out.push_str(&format!(
            "- {} N={} {} legacy={}: {}\n",
            r.scenario.strategy.name(),
            r.scenario.nodes,
            r.scenario.topology.name(),
            r.legacy_nodes,
            report::hops(r)
        ));
    }
    out.push_str(&format!(
        "\nWall time: {:.0} s of runs in total.\n",
        runs.iter().map(|r| r.wall_s).sum::<f64>()
    ));
    out
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a = match parse(&args) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("meshchat-sim: {e}");
            }
            eprintln!("usage: meshchat-sim [--matrix] [--quick] [--nodes N] [--strategy gossip-3|all-peers] [--topology aredn|line|star|line5+branch] [--loss 0.1] [--legacy 0.1] [--partition SECS] [--messages N] [--seed N] [--jobs 2] [--out DIR]");
            return ExitCode::from(2);
        }
    };
    let scenarios = if a.matrix {
        matrix(a.quick)
    } else {
        vec![a.one.clone()]
    };
    eprint!("{}", report::HEADER);
    let runs = match run_all(scenarios, a.jobs) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("meshchat-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = format!("meshchat-sim {}", args.join(" "));
    let md = markdown(&runs, command.trim());
    println!("{md}");
    if let Some(dir) = a.out {
        let written = std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::write(format!("{dir}/sim.json"), report::json(&runs)))
            .and_then(|_| std::fs::write(format!("{dir}/SIM.md"), md));
        if let Err(e) = written {
            eprintln!("meshchat-sim: cannot write {dir}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
