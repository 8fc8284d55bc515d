//! The `Upgrade` session of kupgrade-core on the simulator: prepare (plan, journal, checks),
//! run, verify; journals resumed only for the run they were written for.

use std::path::PathBuf;
use std::sync::Arc;

use kupgrade_core::session::{JournalState, PrepareOptions, Upgrade};
use kupgrade_core::{Error, KubeVersion, Provider, RunResult, Strategy};
use kupgrade_sim::{Budget, SimCluster, SimState, WorkloadKind};

fn v(minor: u32) -> KubeVersion {
    KubeVersion::new(1, minor)
}

fn session(sim: &SimCluster) -> Upgrade {
    Upgrade::new(Arc::new(sim.clone())).with_workloads(Arc::new(sim.clone()))
}

fn journal(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kupgrade-session-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("journal.json")
}

#[tokio::test(start_paused = true)]
async fn a_session_plans_checks_runs_and_forgets_its_finished_journal() {
    let sim = SimCluster::new(SimState::generate(Provider::Aks, "shop", v(29), 2, 8));
    let path = journal("finished");
    let mut prepared = session(&sim)
        .with_journal_until_done(&path)
        .prepare(&v(31), &PrepareOptions::new(Strategy::BlueGreen))
        .await
        .unwrap();
    assert_eq!(prepared.journal(), &JournalState::Fresh(path.clone()));
    assert_eq!(prepared.blockers(), 0, "{:#?}", prepared.findings());
    assert!(prepared.checks().iter().any(|(id, _)| *id == "KUP-SKEW-001"));
    assert!(prepared.plan().steps.len() > 2);
    let report = prepared.run().await.unwrap();
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    let state = sim.state();
    assert_eq!(state.control_plane, v(31));
    assert!(state.node_pools.iter().all(|p| p.version == v(31)));
    assert!(!path.exists(), "verified at the target: the journal is removed");
}

#[tokio::test(start_paused = true)]
async fn a_journal_is_resumed_only_for_the_run_it_was_written_for() {
    let sim = SimCluster::new(SimState::generate(Provider::Eks, "shop", v(29), 2, 8));
    let path = journal("mismatch");
    let mut first = session(&sim)
        .with_journal(&path)
        .prepare(&v(31), &PrepareOptions::new(Strategy::InPlace))
        .await
        .unwrap();
    assert_eq!(first.run().await.unwrap().result, RunResult::Succeeded);
    drop(first);
    assert!(path.exists(), "a journal given with with_journal is kept");

    let refused = |cluster: SimCluster, to: u32, options: PrepareOptions| {
        let path = path.clone();
        async move {
            match session(&cluster)
                .with_journal(&path)
                .prepare(&v(to), &options)
                .await
            {
                Err(e @ Error::JournalNotResumable { .. }) => e.to_string(),
                Err(other) => panic!("{other}"),
                Ok(_) => panic!("resumed a journal written for another run"),
            }
        }
    };
    let target = refused(sim.clone(), 32, PrepareOptions::new(Strategy::InPlace)).await;
    assert!(target.contains("1.31") && target.contains("1.32"), "{target}");
    let strategy = refused(sim.clone(), 31, PrepareOptions::new(Strategy::Canary)).await;
    assert!(
        strategy.contains("in-place") && strategy.contains("canary"),
        "{strategy}"
    );
    let lag = refused(
        sim.clone(),
        31,
        PrepareOptions::new(Strategy::InPlace).with_lag_limit(Some(0)),
    )
    .await;
    assert!(lag.contains("lag limit"), "{lag}");
    let other = SimCluster::new(SimState::generate(Provider::Eks, "billing", v(29), 2, 8));
    let cluster = refused(other, 31, PrepareOptions::new(Strategy::InPlace)).await;
    assert!(
        cluster.contains("shop") && cluster.contains("billing"),
        "{cluster}"
    );
    for message in [&target, &strategy, &lag, &cluster] {
        assert!(
            message.starts_with(&format!("journal {} cannot be resumed: ", path.display())),
            "{message}"
        );
        assert!(
            !message.contains('\n') && !message.contains("--"),
            "one line, no CLI flag: {message}"
        );
    }

    // The same run resumes (here: every step is done, so it only verifies); `replan` plans
    // afresh on purpose.
    let mut resumed = session(&sim)
        .with_journal(&path)
        .prepare(&v(31), &PrepareOptions::new(Strategy::InPlace))
        .await
        .unwrap();
    assert_eq!(resumed.journal(), &JournalState::Resumed(path.clone()));
    let report = resumed.run().await.unwrap();
    assert_eq!(
        (report.result, report.operations_started),
        (RunResult::Succeeded, 0)
    );
    drop(resumed);
    let replanned = session(&sim)
        .with_journal(&path)
        .prepare(&v(32), &PrepareOptions::new(Strategy::Canary).with_replan(true))
        .await
        .unwrap();
    assert_eq!(replanned.journal(), &JournalState::Replanned(path.clone()));
}

#[tokio::test(start_paused = true)]
async fn blockers_and_dry_runs_change_nothing() {
    let mut state = SimState::generate(Provider::Eks, "shop", v(31), 2, 6);
    state.add_workload(
        WorkloadKind::Deployment,
        "billing",
        "invoicer",
        2,
        Some(Budget::MinAvailable(2)),
    );
    let sim = SimCluster::new(state);
    let mut blocked = session(&sim)
        .prepare(&v(32), &PrepareOptions::new(Strategy::BlueGreen))
        .await
        .unwrap();
    assert!(
        blocked.findings().iter().any(|f| f.id == "KUP-PDB-001"),
        "{:#?}",
        blocked.findings()
    );
    let err = blocked.run().await.unwrap_err();
    assert!(
        matches!(err, Error::ChecksBlocked(n) if n == blocked.blockers()),
        "{err}"
    );

    let path = journal("dry-run");
    let mut dry = session(&sim)
        .with_journal(&path)
        .prepare(&v(32), &PrepareOptions::new(Strategy::InPlace).with_dry_run(true))
        .await
        .unwrap();
    assert!(dry.run().await.is_err());
    assert!(
        !path.exists() && !path.parent().unwrap().exists(),
        "a dry run writes nothing"
    );
    assert!(sim.state().operations.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_plan_that_drains_needs_the_clusters_kubernetes_api_before_anything_changes() {
    let sim = SimCluster::new(SimState::generate(Provider::Gke, "shop", v(30), 1, 4));
    let err = match Upgrade::new(Arc::new(sim.clone()))
        .prepare(&v(31), &PrepareOptions::new(Strategy::BlueGreen))
        .await
    {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a blue/green plan prepared without in-cluster access"),
    };
    assert!(err.contains("with_workloads"), "{err}");
    // In place, the provider drains: no in-cluster access needed.
    let mut prepared = Upgrade::new(Arc::new(sim.clone()))
        .prepare(&v(31), &PrepareOptions::new(Strategy::InPlace))
        .await
        .unwrap();
    assert_eq!(prepared.run().await.unwrap().result, RunResult::Succeeded);
}
