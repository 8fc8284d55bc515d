//! `kupgrade versions`: the support calendar with days left.

use std::fmt::Write;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::Args;
use kupgrade_core::{Calendar, Provider, SupportStatus};
use serde::Serialize;

use crate::output::{Output, json};

/// Arguments of `kupgrade versions`.
#[derive(Debug, Args)]
pub struct VersionsArgs {
    /// eks, aks or gke.
    #[arg(long, value_parser = parse_provider)]
    provider: Provider,
    /// Evaluate as of this date (YYYY-MM-DD) instead of today.
    #[arg(long)]
    today: Option<NaiveDate>,
    /// Output format (text or json).
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

/// Parses a provider flag.
pub fn parse_provider(s: &str) -> Result<Provider, String> {
    s.parse()
        .map_err(|e: kupgrade_core::provider::UnknownProvider| e.to_string())
}

#[derive(Serialize)]
struct Row<'a> {
    version: String,
    release: NaiveDate,
    end_of_standard: NaiveDate,
    end_of_extended: Option<NaiveDate>,
    days_left_standard: i64,
    days_left_extended: Option<i64>,
    #[serde(flatten)]
    status: SupportStatus,
    supported: bool,
    source: &'a str,
}

#[derive(Serialize)]
struct Report<'a> {
    provider: Provider,
    today: NaiveDate,
    extended_name: &'a str,
    versions: Vec<Row<'a>>,
}

/// Runs `kupgrade versions`.
pub fn run(args: VersionsArgs) -> anyhow::Result<ExitCode> {
    let today = args.today.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let calendar = Calendar::embedded(args.provider);
    let rows: Vec<Row> = calendar
        .windows
        .iter()
        .map(|w| Row {
            version: w.version.to_string(),
            release: w.release,
            end_of_standard: w.end_of_standard,
            end_of_extended: w.end_of_extended,
            days_left_standard: w.days_left(today),
            days_left_extended: w.days_left_extended(today),
            status: w.status(today),
            supported: w.is_supported(today),
            source: &w.source,
        })
        .collect();
    let report = Report {
        provider: args.provider,
        today,
        extended_name: calendar.extended_name,
        versions: rows,
    };
    match args.output {
        Output::Json => print!("{}", json(&report)?),
        Output::Text | Output::Markdown => print!("{}", text(&report)),
    }
    Ok(ExitCode::SUCCESS)
}

fn days(left: Option<i64>) -> String {
    match left {
        Some(d) if d >= 0 => d.to_string(),
        Some(_) => "ended".to_string(),
        None => "-".to_string(),
    }
}

fn text(report: &Report) -> String {
    let mut out = String::new();
    let ext = report.extended_name;
    let _ = writeln!(
        out,
        "{} support calendar as of {}",
        report.provider.display_name(),
        report.today
    );
    let _ = writeln!(
        out,
        "{:<8} {:<11} {:<13} {:>9}  {:<13} {:>9}  STATUS",
        "VERSION",
        "RELEASED",
        "END STANDARD",
        "DAYS LEFT",
        format!("END {}", ext.to_uppercase()),
        "DAYS LEFT"
    );
    let mut warnings = Vec::new();
    for row in &report.versions {
        let status = match row.status {
            SupportStatus::Standard { .. } => "standard".to_string(),
            SupportStatus::Extended { .. } => ext.to_string(),
            SupportStatus::PastStandard => format!("past standard ({ext} end unknown)"),
            SupportStatus::Unsupported => "unsupported".to_string(),
            SupportStatus::NotReleased => "not released".to_string(),
            other => format!("{other:?}").to_lowercase(),
        };
        let _ = writeln!(
            out,
            "{:<8} {:<11} {:<13} {:>9}  {:<13} {:>9}  {}",
            row.version,
            row.release.to_string(),
            row.end_of_standard.to_string(),
            days(Some(row.days_left_standard)),
            row.end_of_extended
                .map(|d| d.to_string())
                .unwrap_or_else(|| "unknown".into()),
            days(row.days_left_extended),
            status
        );
        if row.days_left_standard < 0 && row.status != SupportStatus::Unsupported {
            warnings.push(format!(
                "warning: {} is past standard support (ended {}); upgrade before it costs more or is forced",
                row.version, row.end_of_standard
            ));
        }
    }
    for w in warnings {
        let _ = writeln!(out, "{w}");
    }
    let _ = writeln!(
        out,
        "Dates are embedded (as of {}); providers move them, check before you rely on one.",
        kupgrade_core::calendar::EMBEDDED_AS_OF
    );
    out
}
