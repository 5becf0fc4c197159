//! `report.html`: the run in one self-contained file (style inline, charts inline as SVG, no
//! script, nothing loaded from elsewhere): the setup and machine, each configuration's server
//! environment, report.md's tables in the seed reports' layout, the SQL and CPU costs with each
//! step's top statements, the server's own figures per step with the metric each shows
//! (`data-metric`), and every chart of `chart.rs`.
//!
//! It shares its content with report.md through `suite` and `stats` and only lays it out as
//! HTML; every text it did not write itself is escaped.

use std::fmt::Write as _;

use anyhow::Result;
use ferrobill::html::escape;

use crate::chart::{report_panels, HTML_PANEL_SIZE};
use crate::costs;
use crate::server_samples;
use crate::stats::{self, Table};
use crate::suite::{self, Summary};

const STYLE: &str = "body{font-family:sans-serif;margin:1em 2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1em}\
th,td{border:1px solid #ccc;padding:.2em .6em;text-align:right}\
th{background:#f0f0f0;font-weight:normal}td:first-child,th:first-child{text-align:left}\
table.facts td{text-align:left}\
figure{margin:.4em 0;display:inline-block;border:1px solid #ddd}\
figure svg{display:block;max-width:100%;height:auto}";

pub fn render(summary: &Summary) -> Result<String> {
    let title = format!(
        "ferrobill-load: {}, {}",
        summary.scenario.name(),
        summary.started_at_utc
    );
    let mut html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{STYLE}</style></head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    html.push_str("<h2>Setup</h2>\n");
    html.push_str(&facts(&suite::setup_facts(summary)));
    for configuration in &summary.configurations {
        let _ = writeln!(
            html,
            "<h3>Configuration {}</h3>",
            escape(&configuration.label)
        );
        let environment: Vec<Vec<String>> = suite::server_environment(configuration)
            .into_iter()
            .map(|(key, value)| vec![format!("{key}{value}")])
            .collect();
        html.push_str(&table(&Table::new(&["server environment"], environment)));
    }
    html.push_str("<h2>Summary</h2>\n");
    html.push_str(&table(&suite::summary_table(summary)));
    let step_costs = summary.step_costs();
    if !step_costs.is_empty() {
        html.push_str("<h3>SQL and CPU per request and per operation</h3>\n");
        html.push_str(&table(&costs::summary_table(&step_costs)));
        let _ = writeln!(html, "<p>{}</p>", escape(costs::EXPLANATION));
    }
    let steps = summary.labelled_steps();
    html.push_str(
        "<h2>Over time</h2>\n<p>Seconds into each step's measured window; with several \
         steps, one curve per step.</p>\n",
    );
    for panel in report_panels(&steps) {
        let _ = writeln!(html, "<figure>{}</figure>", panel.svg(HTML_PANEL_SIZE)?);
    }
    for (label, step) in &steps {
        let _ = writeln!(
            html,
            "<h2>{} ({:.1}s measured)</h2>\n<h3>Results (latencies in ms)</h3>",
            escape(label),
            step.measured_seconds
        );
        html.push_str(&table(&stats::results_table(&step.rows)));
        html.push_str(&facts(&suite::step_facts(step)));
        if let Some(costs) = step.costs.as_ref().filter(|c| !c.top_statements.is_empty()) {
            html.push_str("<h3>Top statements (by execution time)</h3>\n");
            html.push_str(&table(&costs::statements_table(costs)));
        }
        let server = server_samples::figures(&step.server_samples);
        if !server.is_empty() {
            html.push_str("<h3>The server's own samples (/dashboard/data)</h3>\n");
            html.push_str(&server_table(&server));
        }
        html.push_str("<h3>Errors</h3>\n");
        html.push_str(&table(&stats::errors_table(&step.errors_by_class)));
        html.push_str("<h3>Logs (errors by class and message)</h3>\n");
        html.push_str(&table(&stats::error_messages_table(
            &suite::error_messages(step),
        )));
    }
    for configuration in &summary.configurations {
        let _ = writeln!(
            html,
            "<h2>Queues at teardown ({})</h2>",
            escape(&configuration.label)
        );
        html.push_str(&facts(&suite::teardown_facts(configuration)));
    }
    html.push_str("</body>\n</html>\n");
    Ok(html)
}

fn table(table: &Table) -> String {
    html_table(table, "<table>\n")
}

fn html_table(table: &Table, opening: &str) -> String {
    let mut html = String::from(opening);
    if table.header.iter().any(|cell| !cell.is_empty()) {
        html.push_str("<tr>");
        for cell in &table.header {
            let _ = write!(html, "<th>{}</th>", escape(cell));
        }
        html.push_str("</tr>\n");
    }
    for line in &table.body {
        html.push_str("<tr>");
        for cell in line {
            let _ = write!(html, "<td>{}</td>", escape(cell));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    html
}

/// `(what, value)` lines as a two-column table.
fn facts(facts: &[(String, String)]) -> String {
    let body = facts
        .iter()
        .map(|(name, value)| vec![name.clone(), value.clone()])
        .collect();
    html_table(&Table::new(&["", ""], body), "<table class=\"facts\">\n")
}

/// The server's figures, each value named by its metric.
fn server_table(figures: &[server_samples::ServerFigure]) -> String {
    let mut html = String::from("<table>\n<tr><th>figure</th><th>value</th></tr>\n");
    for figure in figures {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td data-metric=\"{}\">{}</td></tr>",
            escape(&figure.label),
            escape(&figure.metric),
            escape(&figure.value)
        );
    }
    html.push_str("</table>\n");
    html
}
