//! Time-series charts as SVG, drawn with plotters' SVG backend, for the dashboard
//! (`/dashboard`) and the load suite's reports. A [`Panel`] has a title, one line per series
//! (with gaps where a value is unknown), dashed horizontal limits (a pool's size, Kill Bill's
//! growth threshold) and a legend beside the plot, so the legend never covers a line and the
//! tick labels carry their unit instead of an axis caption that could overlap them.
//!
//! It draws only: no clock, no file, no I/O.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Room for the legend right of the plot.
const LEGEND_WIDTH: u32 = 200;
const LEGEND_ROW: i32 = 17;
/// Longest legend label drawn; longer ones are cut with an ellipsis.
const LEGEND_LABEL_CHARS: usize = 30;
const FONT: &str = "sans-serif";

/// Tableau's ten colours: told apart on screen and in print.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const LIMIT_COLOR: RGBColor = RGBColor(90, 90, 90);

/// One chart.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub x: XAxis,
    pub series: Vec<Series>,
    pub limits: Vec<Limit>,
}

/// One line: `(x, y)` points in x order, `None` where the value is unknown (a gap).
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, Option<f64>)>,
}

/// A dashed horizontal line at `value`.
#[derive(Debug, Clone)]
pub struct Limit {
    pub label: String,
    pub value: f64,
}

/// What x is, which sets the range and how ticks are labelled.
#[derive(Debug, Clone, Copy)]
pub enum XAxis {
    /// Unix seconds, labelled as UTC clock times (`06:12:30`).
    Clock { from: f64, to: f64 },
    /// Seconds from 0 to `end`, labelled `30 s`.
    Elapsed { end: f64 },
}

impl XAxis {
    fn range(self) -> (f64, f64) {
        let (from, to) = match self {
            XAxis::Clock { from, to } => (from, to),
            XAxis::Elapsed { end } => (0.0, end),
        };
        (from, to.max(from + 1.0))
    }

    fn label(self, x: f64) -> String {
        match self {
            XAxis::Clock { .. } => chrono::DateTime::from_timestamp(x.round() as i64, 0)
                .map_or_else(String::new, |time| time.format("%H:%M:%S").to_string()),
            XAxis::Elapsed { .. } => format!("{x:.0} s"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart {title:?}: {reason}")]
pub struct ChartError {
    title: String,
    reason: String,
}

impl Series {
    pub fn new(label: impl Into<String>, points: Vec<(f64, Option<f64>)>) -> Series {
        Series {
            label: label.into(),
            points,
        }
    }
}

impl Limit {
    pub fn new(label: impl Into<String>, value: f64) -> Limit {
        Limit {
            label: label.into(),
            value,
        }
    }
}

impl Panel {
    /// The panel as an SVG document of `width` × `height` pixels.
    pub fn svg(&self, size: (u32, u32)) -> Result<String, ChartError> {
        stacked_svg(std::slice::from_ref(self), size)
    }

    fn draw_on<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (width, _) = area.dim_in_pixel();
        let (plot, legend) = area.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
        let (x_from, x_to) = self.x.range();
        let highest = self
            .series
            .iter()
            .flat_map(|series| series.points.iter().filter_map(|(_, y)| *y))
            .chain(self.limits.iter().map(|limit| limit.value))
            .filter(|y| y.is_finite())
            .fold(0.0, f64::max);
        let y_top = (highest * 1.1).max(1.0);
        let x_axis = self.x;
        let mut chart = ChartBuilder::on(&plot)
            .caption(&self.title, (FONT, 15))
            .margin(6)
            .x_label_area_size(22)
            .y_label_area_size(46)
            .build_cartesian_2d(x_from..x_to, 0.0..y_top)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .max_light_lines(0)
            .x_labels(6)
            .y_labels(5)
            .x_label_formatter(&|x| x_axis.label(*x))
            .y_label_formatter(&|y| compact(*y))
            .draw()
            .map_err(|e| e.to_string())?;
        let mut entries = Vec::new();
        for (index, series) in self.series.iter().enumerate() {
            let color = PALETTE[index % PALETTE.len()];
            for segment in segments(&series.points) {
                if let [single] = segment.as_slice() {
                    chart
                        .draw_series(std::iter::once(Circle::new(*single, 2, color.filled())))
                        .map_err(|e| e.to_string())?;
                } else {
                    chart
                        .draw_series(LineSeries::new(segment, color.stroke_width(2)))
                        .map_err(|e| e.to_string())?;
                }
            }
            entries.push((series.label.as_str(), color, false));
        }
        for limit in &self.limits {
            chart
                .draw_series(DashedLineSeries::new(
                    [(x_from, limit.value), (x_to, limit.value)],
                    6,
                    4,
                    LIMIT_COLOR.stroke_width(1),
                ))
                .map_err(|e| e.to_string())?;
            entries.push((limit.label.as_str(), LIMIT_COLOR, true));
        }
        for (row, (label, color, dashed)) in entries.into_iter().enumerate() {
            let y = 34 + row as i32 * LEGEND_ROW;
            let thickness = if dashed { 1 } else { 3 };
            legend
                .draw(&PathElement::new(
                    vec![(4, y), (24, y)],
                    color.stroke_width(thickness),
                ))
                .map_err(|e| e.to_string())?;
            let style = TextStyle::from((FONT, 12).into_font())
                .pos(Pos::new(HPos::Left, VPos::Center))
                .color(&BLACK);
            legend
                .draw(&Text::new(shorten(label), (30, y), style))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// `panels` one above the other in one SVG document, each `width` × `panel_height` pixels.
pub fn stacked_svg(
    panels: &[Panel],
    (width, panel_height): (u32, u32),
) -> Result<String, ChartError> {
    let failed = |title: &str, reason: String| ChartError {
        title: title.to_string(),
        reason,
    };
    let mut svg = String::new();
    {
        let height = panel_height * panels.len().max(1) as u32;
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed("", e.to_string()))?;
        let areas = root.split_evenly((panels.len().max(1), 1));
        for (panel, area) in panels.iter().zip(&areas) {
            panel
                .draw_on(area)
                .map_err(|reason| failed(&panel.title, reason))?;
        }
        root.present().map_err(|e| failed("", e.to_string()))?;
    }
    Ok(svg)
}

/// Runs of known values, each drawn as one line.
fn segments(points: &[(f64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut segments = Vec::new();
    let mut current = Vec::new();
    for &(x, y) in points {
        match y.filter(|y| y.is_finite()) {
            Some(y) => current.push((x, y)),
            None if !current.is_empty() => segments.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

/// `0`, `0.25`, `12`, `1.5k`, `2.4M`: short tick labels.
fn compact(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if magnitude >= 1e4 {
        format!("{:.0}k", value / 1e3)
    } else if magnitude >= 1e3 {
        format!("{:.1}k", value / 1e3)
    } else if magnitude >= 10.0 || value == value.trunc() {
        format!("{value:.0}")
    } else if magnitude >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn shorten(label: &str) -> String {
    if label.chars().count() <= LEGEND_LABEL_CHARS {
        return label.to_string();
    }
    let mut short: String = label.chars().take(LEGEND_LABEL_CHARS - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_split_a_series() {
        let points = [
            (0.0, Some(1.0)),
            (1.0, Some(2.0)),
            (2.0, None),
            (3.0, Some(f64::NAN)),
            (4.0, Some(5.0)),
        ];
        assert_eq!(
            segments(&points),
            vec![vec![(0.0, 1.0), (1.0, 2.0)], vec![(4.0, 5.0)]]
        );
    }

    #[test]
    fn tick_labels_are_short() {
        for (value, text) in [
            (0.0, "0"),
            (0.25, "0.25"),
            (2.5, "2.5"),
            (140.0, "140"),
            (1500.0, "1.5k"),
            (25_000.0, "25k"),
            (2_400_000.0, "2.4M"),
        ] {
            assert_eq!(compact(value), text, "{value}");
        }
        assert_eq!(XAxis::Elapsed { end: 10.0 }.label(30.0), "30 s");
        let clock = XAxis::Clock {
            from: 0.0,
            to: 60.0,
        };
        assert_eq!(clock.label(3_723.0), "01:02:03");
    }

    #[test]
    fn a_panel_draws_its_lines_limits_and_legend() {
        let panel = Panel {
            title: "main pool connections".into(),
            x: XAxis::Elapsed { end: 3.0 },
            series: vec![
                Series::new(
                    "in use",
                    vec![(0.0, Some(1.0)), (1.0, None), (2.0, Some(3.0))],
                ),
                Series::new("waiting", vec![(0.0, Some(0.0)), (1.0, Some(4.0))]),
            ],
            limits: vec![Limit::new("maxActive 10", 10.0)],
        };
        let svg = panel.svg((600, 200)).expect("draws");
        assert!(svg.starts_with("<svg"), "{svg}");
        for text in [
            "main pool connections",
            "in use",
            "waiting",
            "maxActive 10",
            "2 s",
        ] {
            assert!(svg.contains(text), "{text} missing from {svg}");
        }
        let empty = Panel {
            title: "nothing yet".into(),
            x: XAxis::Clock {
                from: 10.0,
                to: 10.0,
            },
            series: vec![Series::new("none", Vec::new())],
            limits: Vec::new(),
        };
        assert!(empty.svg((400, 150)).is_ok());
        let stacked = stacked_svg(&[panel.clone(), empty], (600, 200)).expect("draws");
        assert!(stacked.contains("height=\"400\""), "{stacked}");
        assert!(stacked.contains("nothing yet") && stacked.contains("waiting"));
    }
}
