//! `chart.svg`: one panel each for throughput, p90 latency, errors and the main bus's ready
//! entries, second by second over the whole run (steps and configurations one after the other,
//! so a sweep reads left to right). SVG only, drawn with plotters' SVG backend.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::suite::Summary;

const WIDTH: u32 = 900;
const PANEL_HEIGHT: u32 = 200;

/// One plotted series: title, unit, points (second, value).
struct Series {
    title: &'static str,
    points: Vec<(f64, f64)>,
    color: RGBColor,
}

pub fn draw(path: &Path, summary: &Summary) -> Result<()> {
    let mut series = [
        Series {
            title: "throughput (requests/s)",
            points: Vec::new(),
            color: BLUE,
        },
        Series {
            title: "p90 latency (ms)",
            points: Vec::new(),
            color: MAGENTA,
        },
        Series {
            title: "errors (/s)",
            points: Vec::new(),
            color: RED,
        },
        Series {
            title: "ready bus entries",
            points: Vec::new(),
            color: GREEN,
        },
    ];
    let mut offset = 0.0;
    for step in summary.configurations.iter().flat_map(|c| &c.steps) {
        let mut previous = 0.0;
        for point in &step.timeline {
            // Each point covers the time since the previous one: about a second.
            let width = (point.second - previous).max(1e-3);
            previous = point.second;
            let at = offset + point.second;
            series[0].points.push((at, point.requests as f64 / width));
            series[1].points.push((at, point.p90_ms));
            series[2].points.push((at, point.errors as f64 / width));
            if let Some(ready) = point.bus_ready {
                series[3].points.push((at, ready));
            }
        }
        offset += step.measured_seconds.max(previous);
    }
    let height = PANEL_HEIGHT * series.len() as u32;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)
        .map_err(|error| anyhow!("chart: {error}"))?;
    let panels = root.split_evenly((series.len(), 1));
    let x_end = offset.max(1.0);
    for (panel, series) in panels.iter().zip(&series) {
        let y_end = series
            .points
            .iter()
            .map(|(_, value)| *value)
            .fold(0.0, f64::max)
            .max(1.0)
            * 1.1;
        let mut chart = ChartBuilder::on(panel)
            .caption(series.title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..x_end, 0.0..y_end)
            .map_err(|error| anyhow!("chart: {error}"))?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .max_light_lines(0)
            .draw()
            .map_err(|error| anyhow!("chart: {error}"))?;
        chart
            .draw_series(LineSeries::new(
                series.points.iter().copied(),
                &series.color,
            ))
            .map_err(|error| anyhow!("chart: {error}"))?;
    }
    root.present().map_err(|error| anyhow!("chart: {error}"))?;
    Ok(())
}
