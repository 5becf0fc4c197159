//! The HTML of `/dashboard`: the figures and charts of the latest sample, the configuration
//! that matters for saturation, and the page's own style and script, all built into the
//! binary (the page loads nothing else, so it works on a machine with no internet). The
//! script then refreshes the figures and charts from `/dashboard/data` every second.
//!
//! Every text that did not come from this file is escaped.

use std::fmt::Write as _;

use super::charts::Chart;
use super::figures::{Cell, Figures, Layout, Table};
use crate::html::escape;

const STYLE: &str = include_str!("assets/dashboard.css");
const SCRIPT: &str = include_str!("assets/dashboard.js");

/// The chart windows the page offers, in seconds.
const WINDOWS: [(u32, &str); 3] = [(60, "1 min"), (300, "5 min"), (900, "15 min")];

pub(crate) fn render(layout: &Layout, figures: &Figures, charts: &[Chart], seconds: u32) -> String {
    let banner = |metric: &str| {
        figures
            .banner
            .iter()
            .find(|cell| cell.metric == metric)
            .map(figure)
            .unwrap_or_default()
    };
    let health = figures
        .banner
        .iter()
        .find(|cell| cell.metric == "ferrobill.health.status")
        .map_or("unknown", |cell| cell.value.as_str());
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\" data-seconds=\"{seconds}\" data-health=\"{}\">\n\
         <head><meta charset=\"utf-8\"><title>ferrobill dashboard</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\">\
         <style>{STYLE}</style></head>\n<body>\n<header>\n<h1>ferrobill</h1>\
         <div class=\"health\">health: {} {}</div>\n\
         <div class=\"meta\">sample {} at {} · <span id=\"connection\">live</span></div>\n<nav>chart window:",
        escape(health),
        banner("ferrobill.health.status"),
        banner("ferrobill.health.message"),
        banner("ferrobill.dashboard.sample"),
        banner("ferrobill.dashboard.time"),
    );
    for (window, label) in WINDOWS {
        if window == seconds {
            let _ = write!(page, " <b>{label}</b>");
        } else {
            let _ = write!(page, " <a href=\"?seconds={window}\">{label}</a>");
        }
    }
    page.push_str("</nav>\n</header>\n<main>\n");
    for section in &figures.sections {
        let _ = writeln!(page, "<section>\n<h2>{}</h2>", escape(section.title));
        for table in &section.tables {
            page.push_str(&html_table(table));
        }
        page.push_str("<div class=\"charts\">\n");
        for chart in charts.iter().filter(|chart| chart.topic == section.topic) {
            let _ = writeln!(
                page,
                "<figure data-chart=\"{}\">{}</figure>",
                escape(&chart.id),
                chart.svg
            );
        }
        page.push_str("</div>\n</section>\n");
    }
    page.push_str(
        "<section>\n<h2>Configuration</h2>\n<table><tr><th>property</th><th>value</th></tr>\n",
    );
    for (name, value) in &layout.settings {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td data-property=\"{}\">{}</td></tr>",
            escape(name),
            escape(name),
            escape(value)
        );
    }
    let _ = write!(
        page,
        "</table>\n</section>\n</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    );
    page
}

fn html_table(table: &Table) -> String {
    let mut html = String::from("<table><tr>");
    for column in &table.columns {
        let _ = write!(html, "<th>{}</th>", escape(column));
    }
    html.push_str("</tr>\n");
    for (label, cells) in &table.rows {
        let _ = write!(html, "<tr><td>{}</td>", escape(label));
        for cell in cells {
            let _ = write!(html, "<td>{}</td>", figure(cell));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    html
}

/// A live figure: the element the script refreshes, named by its metric.
fn figure(cell: &Cell) -> String {
    format!(
        "<span data-metric=\"{}\">{}</span>",
        escape(&cell.metric),
        escape(&cell.value)
    )
}
