//! `bench --plot FILE.svg`: the rows of a sweep as two charts side by side, msgs/s
//! and p99 latency against clients, a line per model (plotters, SVG backend). Both
//! axes are logarithmic: client counts and figures span orders of magnitude.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::Row;

/// Pixels of the whole picture.
const SIZE: (u32, u32) = (1200, 520);
/// Line colours, told apart easily (matplotlib's "tab10").
const COLORS: [RGBColor; 10] = [
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

/// Draws `rows` into the SVG file at `path`.
pub fn draw(path: &Path, rows: &[Row]) -> Result<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(SIZE.0 / 2);
    chart(&left, "messages per second", "msgs/s", rows, |row| {
        row.msgs_per_s
    })?;
    chart(&right, "p99 latency", "p99 (µs)", rows, |row| {
        row.p99_us as f64
    })?;
    root.present()
        .with_context(|| format!("cannot write the chart to {}", path.display()))?;
    Ok(())
}

/// One chart: `figure` of each row against its client count, a line per server.
/// Rows with nothing to show (no reply at all: 0) leave out their point.
fn chart(
    area: &DrawingArea<SVGBackend, Shift>,
    title: &str,
    y_label: &str,
    rows: &[Row],
    figure: impl Fn(&Row) -> f64,
) -> Result<()> {
    let shown: Vec<f64> = rows.iter().map(&figure).filter(|&y| y > 0.0).collect();
    let low = shown.iter().copied().fold(f64::INFINITY, f64::min);
    let high = shown.iter().copied().fold(1.0, f64::max);
    let low = if low.is_finite() { low / 2.0 } else { 0.5 };
    let most_clients = rows.iter().map(|row| row.clients).max().unwrap_or(1) as f64;

    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (0.8..most_clients * 1.25).log_scale(),
            (low..high * 2.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("clients")
        .y_desc(y_label)
        .x_label_formatter(&|clients| format!("{clients:.0}"))
        .y_labels(12)
        .y_label_formatter(&|value| format!("{value:.0}"))
        .light_line_style(WHITE)
        .draw()?;
    for (index, label) in labels(rows).into_iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        let points: Vec<(f64, f64)> = rows
            .iter()
            .filter(|row| row.label() == label)
            .map(|row| (row.clients as f64, figure(row)))
            .filter(|&(_, y)| y > 0.0)
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(
            points
                .into_iter()
                .map(|point| Circle::new(point, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// The servers of `rows`, each once, in the order they ran.
fn labels(rows: &[Row]) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    for row in rows {
        if !labels.iter().any(|label| label == row.label()) {
            labels.push(row.label().to_string());
        }
    }
    labels
}
