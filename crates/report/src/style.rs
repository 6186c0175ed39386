//! The look every chart shares, in one place: the embedded font, the colours, the chart size, the frame (caption,
//! margins, label areas, grid lines and label fonts), the legend box, and drawing one chart into PNG and SVG files.

use std::path::Path;
use std::sync::OnceLock;

use plotters::chart::MeshStyle;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::ReportError;

pub(super) const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// Size of every chart but the weight tiles.
pub(super) const CHART_SIZE: (u32, u32) = (900, 600);
pub(super) const ORANGE: RGBColor = RGBColor(230, 120, 20);
pub(super) const GREY: RGBColor = RGBColor(150, 150, 150);
pub(super) const PURPLE: RGBColor = RGBColor(130, 40, 170);
pub(super) const GREEN_DARK: RGBColor = RGBColor(30, 130, 60);

/// What drawing on a backend `DB` fails with.
pub(super) type DrawErr<DB> = DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>;

/// The chart [`frame`] builds over the axis specs `X` and `Y`.
pub(super) type Frame<'a, DB, X, Y> =
    ChartContext<'a, DB, Cartesian2d<<X as AsRangedCoord>::CoordDescType, <Y as AsRangedCoord>::CoordDescType>>;

/// A chart that draws itself the same way on any backend, onto a canvas already filled white.
pub(super) trait Chart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawErr<DB>>;
}

/// Registers the embedded font under [`FONT`], once per process.
pub(super) fn register_font() -> Result<(), ReportError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ReportError::Font)
    }
}

/// Draws `chart` into `out/<stem>.png` and `out/<stem>.svg`, both [`CHART_SIZE`].
pub(super) fn render(chart: &impl Chart, out: &Path, stem: &str) -> Result<(), ReportError> {
    render_sized(chart, out, stem, CHART_SIZE)
}

/// Draws `chart` into `out/<stem>.png` and `out/<stem>.svg`, both `size` pixels (a figure of several panels).
pub(super) fn render_sized(chart: &impl Chart, out: &Path, stem: &str, size: (u32, u32)) -> Result<(), ReportError> {
    render_png(chart, &out.join(format!("{stem}.png")), size)?;
    let svg = out.join(format!("{stem}.svg"));
    let root = SVGBackend::new(&svg, size).into_drawing_area();
    paint(chart, &root).map_err(|e| draw_error(&svg, e))
}

/// Draws `chart` into the PNG file `path`, `size` pixels.
pub(super) fn render_png(chart: &impl Chart, path: &Path, size: (u32, u32)) -> Result<(), ReportError> {
    paint(chart, &BitMapBackend::new(path, size).into_drawing_area()).map_err(|e| draw_error(path, e))
}

fn paint<DB: DrawingBackend>(chart: &impl Chart, root: &DrawingArea<DB, Shift>) -> Result<(), DrawErr<DB>> {
    root.fill(&WHITE)?;
    chart.draw(root)?;
    root.present()
}

fn draw_error(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Draw {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// A chart on `root` titled `caption`, with `y_label_width` pixels for the y tick labels and axis description.
pub(super) fn frame<'a, DB: DrawingBackend, X: AsRangedCoord, Y: AsRangedCoord>(
    root: &'a DrawingArea<DB, Shift>,
    caption: impl AsRef<str>,
    y_label_width: u32,
    x: X,
    y: Y,
) -> Result<Frame<'a, DB, X, Y>, DrawErr<DB>> {
    ChartBuilder::on(root)
        .caption(caption, (FONT, 22).into_font().color(&BLACK))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(y_label_width)
        .build_cartesian_2d(x, y)
}

/// The grid lines, tick labels and axis descriptions of `chart`, styled; the caller adds what is its own (label
/// formatters, no grid) and draws it.
pub(super) fn mesh<'a, 'b, DB: DrawingBackend, X, Y>(
    chart: &'b mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    x_desc: impl Into<String>,
    y_desc: impl Into<String>,
) -> MeshStyle<'a, 'b, X, Y, DB>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_desc)
        .y_desc(y_desc)
        .bold_line_style(BLACK.mix(0.12))
        .light_line_style(BLACK.mix(0.04))
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15));
    mesh
}

/// Draws the legend of `chart`'s labelled series in a framed box at `position`.
pub(super) fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> Result<(), DrawErr<DB>> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
}

/// The legend mark of a line series drawn in `color`.
pub(super) fn legend_line(color: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
}
