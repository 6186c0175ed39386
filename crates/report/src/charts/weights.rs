//! Fig. 5: the best model's first-layer weights as colour tiles, one per hidden unit, each rescaled to 0-255 on its
//! own. Drawn pixel by pixel, so only as PNG.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use sweep_core::Model;

use crate::scale::min_max;
use crate::style::{Chart, DrawErr, FONT};
use crate::MAX_TILES;

/// Tiles per row of the weight figure.
const TILE_COLUMNS: usize = 16;
/// Pixels between tiles, above the tiles (for the title), and at the sides and bottom.
const GAP: usize = 4;
const TOP: usize = 56;
const SIDE: usize = 20;

/// The first [`MAX_TILES`] columns of W1 laid out as images.
pub(crate) struct WeightTiles<'a> {
    model: &'a Model,
    title: &'a str,
    /// Colour planes (1 or 3), height and width of an input image.
    channels: usize,
    h: usize,
    w: usize,
    /// Hidden units drawn, and tiles per row.
    units: usize,
    cols: usize,
    /// Each input pixel is drawn as a `scale` x `scale` square.
    scale: usize,
    /// The figure's size in pixels, and the left edge of the tiles (they are centred).
    width: usize,
    height: usize,
    left: usize,
}

impl<'a> WeightTiles<'a> {
    /// None when the model's inputs are not images (shape `[1 or 3, h, w]` or `[h, w]`) or it has no hidden unit.
    pub(crate) fn new(model: &'a Model, title: &'a str) -> Option<WeightTiles<'a>> {
        let (channels, h, w) = match model.meta.input_shape[..] {
            [c, h, w] if c == 1 || c == 3 => (c, h, w),
            [h, w] => (1, h, w),
            _ => return None,
        };
        let w1 = &model.net.params.w1;
        if w1.shape()[0] != channels * h * w || h == 0 || w == 0 {
            return None;
        }
        let units = w1.shape()[1].min(MAX_TILES);
        if units == 0 {
            return None;
        }
        let cols = units.min(TILE_COLUMNS);
        let rows = units.div_ceil(cols);
        let scale = (64 / h.max(w)).max(1);
        let (tw, th) = (w * scale, h * scale);
        let width = (SIDE * 2 + cols * (tw + GAP) - GAP).max(760);
        let height = TOP + rows * (th + GAP) - GAP + SIDE;
        let left = (width - (cols * (tw + GAP) - GAP)) / 2;
        Some(WeightTiles {
            model,
            title,
            channels,
            h,
            w,
            units,
            cols,
            scale,
            width,
            height,
            left,
        })
    }

    /// The figure's size in pixels.
    pub(crate) fn size(&self) -> (u32, u32) {
        (self.width as u32, self.height as u32)
    }
}

impl Chart for WeightTiles<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawErr<DB>> {
        let (h, w, scale) = (self.h, self.w, self.scale);
        let centered = (FONT, 20).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(self.title.to_string(), (self.width as i32 / 2, 10), centered))?;
        let w1 = &self.model.net.params.w1;
        let plane = h * w;
        for u in 0..self.units {
            let col = w1.column(u);
            let (lo, hi) = min_max(col.iter().map(|&v| f64::from(v))).unwrap_or((0.0, 0.0));
            let level = |v: f32| -> u8 {
                let v = f64::from(v);
                if hi > lo && v.is_finite() {
                    (255.0 * (v - lo) / (hi - lo)).round().clamp(0.0, 255.0) as u8
                } else {
                    128
                }
            };
            let ox = self.left + (u % self.cols) * (w * scale + GAP);
            let oy = TOP + (u / self.cols) * (h * scale + GAP);
            for y in 0..h {
                for x in 0..w {
                    let i = y * w + x;
                    let color = if self.channels == 3 {
                        RGBColor(level(col[i]), level(col[plane + i]), level(col[2 * plane + i]))
                    } else {
                        let g = level(col[i]);
                        RGBColor(g, g, g)
                    };
                    for dy in 0..scale {
                        for dx in 0..scale {
                            root.draw_pixel(((ox + x * scale + dx) as i32, (oy + y * scale + dy) as i32), &color)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
