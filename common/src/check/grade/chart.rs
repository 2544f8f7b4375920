//! `summary.svg`: the share of the class that passed each check, one horizontal bar
//! per check in the lab's order (plotters, SVG backend), so the lessons the class
//! missed stand out at a glance.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

use super::summary::ClassSummary;

/// Bars in the colour the benchmarks' charts use first (matplotlib's "tab:blue").
const BAR: RGBColor = RGBColor(31, 119, 180);
/// Pixels per check, and for the chart's title and axis.
const ROW: u32 = 30;
const FRAME: u32 = 110;

/// Draws `summary`'s pass rates of `lab`'s checks into the SVG file at `path`.
pub fn draw(path: &Path, lab: &str, summary: &ClassSummary) -> Result<()> {
    let rows = summary.checks.len().max(1);
    let longest = summary
        .checks
        .iter()
        .map(|check| check.name.chars().count())
        .max()
        .unwrap_or(0);
    // Room for the names on the left: about 7 pixels a character at this size.
    let names_width = u32::try_from(longest * 7 + 24)
        .unwrap_or(800)
        .clamp(120, 800);
    let size = (names_width + 560, FRAME + ROW * rows as u32);
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "{lab}: share of the class ({} graded) that passed each check",
        summary.graded
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(names_width)
        .build_cartesian_2d(0.0..100.0, (0..rows).into_segmented())?;
    // The first check on top: row `index` is drawn at `rows - 1 - index`.
    let name_at = |value: &SegmentValue<usize>| match value {
        SegmentValue::CenterOf(row) => rows
            .checked_sub(row + 1)
            .and_then(|index| summary.checks.get(index))
            .map(|check| check.name.clone())
            .unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .y_labels(rows)
        .y_label_formatter(&name_at)
        .x_desc("passed (% of the class)")
        .x_label_formatter(&|percent| format!("{percent:.0}%"))
        .disable_y_mesh()
        .light_line_style(WHITE)
        .draw()?;
    chart.draw_series(summary.checks.iter().enumerate().map(|(index, check)| {
        let row = rows - 1 - index;
        let mut bar = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(row)),
                (check.rate() * 100.0, SegmentValue::Exact(row + 1)),
            ],
            BAR.filled(),
        );
        bar.set_margin(4, 4, 0, 0);
        bar
    }))?;
    chart.draw_series(summary.checks.iter().enumerate().map(|(index, check)| {
        let percent = check.rate() * 100.0;
        // The figure after the bar, or inside it near the right edge.
        let at = if percent > 85.0 {
            percent - 13.0
        } else {
            percent + 1.0
        };
        Text::new(
            format!("{}/{}", check.passed, check.of),
            (at, SegmentValue::CenterOf(rows - 1 - index)),
            ("sans-serif", 13),
        )
    }))?;
    root.present()
        .with_context(|| format!("cannot write the chart to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::grade::summary::CheckShare;

    #[test]
    fn the_chart_is_well_formed_svg_with_every_check_named() {
        let summary = ClassSummary {
            graded: 4,
            checks: vec![
                CheckShare {
                    name: "`quit` ends the session & <nothing> \"else\"".into(),
                    passed: 1,
                    of: 4,
                },
                CheckShare {
                    name: "a message is answered".into(),
                    passed: 4,
                    of: 4,
                },
            ],
            scores: vec![2.0, 1.0, 1.0, 1.0],
            max_score: 2.0,
        };
        let path = std::env::temp_dir().join(format!("grade-chart-{}.svg", std::process::id()));
        draw(&path, "lab-x", &summary).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let document = roxmltree::Document::parse(&svg).unwrap();
        let texts: Vec<&str> = document
            .descendants()
            .filter(|node| node.has_tag_name("text"))
            .filter_map(|node| node.text())
            .map(str::trim)
            .collect();
        for expected in [
            "`quit` ends the session & <nothing> \"else\"",
            "a message is answered",
            "1/4",
            "4/4",
            "50%",
        ] {
            assert!(texts.contains(&expected), "{expected:?} not in {texts:?}");
        }
    }
}
