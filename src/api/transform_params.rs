//! The parameters of the eight transformations: checked against the reference's types and
//! ranges, every problem of a request reported together, and turned into engine operations.
//! The API handlers and `imgforge transform` share this; the services run what it yields.

use serde_json::{Map, Value};

use super::validate::Fields;
use crate::domain::{ApiError, Format, ImageId};
use crate::imaging::{
    Adjustments, Fit, Gravity, LchModulation, Mirror, Modulation, Operation, Rect, Repetition,
    ResizeSpec,
};
use crate::services::transform::{Placement, Plan, TransformRequest};

/// The transformations, by the last segment of their path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "lower")]
pub enum Transformation {
    Resize,
    Crop,
    Convert,
    Rotate,
    Mirror,
    Blur,
    Modulate,
    Watermark,
}

impl Transformation {
    pub const ALL: [Transformation; 8] = [
        Transformation::Resize,
        Transformation::Crop,
        Transformation::Convert,
        Transformation::Rotate,
        Transformation::Mirror,
        Transformation::Blur,
        Transformation::Modulate,
        Transformation::Watermark,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Transformation::Resize => "resize",
            Transformation::Crop => "crop",
            Transformation::Convert => "convert",
            Transformation::Rotate => "rotate",
            Transformation::Mirror => "mirror",
            Transformation::Blur => "blur",
            Transformation::Modulate => "modulate",
            Transformation::Watermark => "watermark",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

const MAX_SIDE: i64 = 10_000;
const MAX_COORDINATE: i64 = 100_000;
const GRAVITIES: [(&str, Gravity); 9] = [
    ("center", Gravity::Center),
    ("top", Gravity::Top),
    ("right", Gravity::Right),
    ("bottom", Gravity::Bottom),
    ("left", Gravity::Left),
    ("top-left", Gravity::TopLeft),
    ("top-right", Gravity::TopRight),
    ("bottom-left", Gravity::BottomLeft),
    ("bottom-right", Gravity::BottomRight),
];

fn lookup<T: Copy>(table: &[(&str, T)], key: &str) -> T {
    table
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, value)| *value)
        .expect("choices are checked before lookup")
}

fn names<T>(table: &[(&'static str, T)]) -> Vec<&'static str> {
    table.iter().map(|(name, _)| *name).collect()
}

fn side(value: i64) -> u32 {
    u32::try_from(value).expect("sides are range-checked")
}

/// Checks `body` for a transformation of an image that is `width`×`height` as displayed.
pub fn parse(
    kind: Transformation,
    body: Map<String, Value>,
    (width, height): (u32, u32),
) -> Result<TransformRequest, ApiError> {
    let mut fields = Fields::new(body);
    let name = fields.name("name", false);
    let plan = match kind {
        Transformation::Resize => resize(&mut fields),
        Transformation::Crop => crop(&mut fields, width, height),
        Transformation::Convert => convert(&mut fields),
        Transformation::Rotate => rotate(&mut fields),
        Transformation::Mirror => {
            const MODES: [(&str, Mirror); 3] = [
                ("horizontal", Mirror::Horizontal),
                ("vertical", Mirror::Vertical),
                ("both", Mirror::Both),
            ];
            let mode = fields.choice("mode", &names(&MODES), true);
            mode.map(|mode| Plan::Ready(Operation::Mirror(lookup(&MODES, &mode))))
        }
        Transformation::Blur => {
            let sigma = fields.number("sigma", 1.0..=1000.0, false).unwrap_or(20.0);
            Some(Plan::Ready(Operation::Blur {
                sigma: sigma as f32,
            }))
        }
        Transformation::Modulate => modulate(&mut fields),
        Transformation::Watermark => watermark(&mut fields),
    };
    fields.finish()?;
    let plan = plan.ok_or_else(|| ApiError::internal("checked fields are missing"))?;
    Ok(TransformRequest { plan, name })
}

fn resize(fields: &mut Fields) -> Option<Plan> {
    const FITS: [(&str, Fit); 3] = [
        ("fill", Fit::Fill),
        ("contain", Fit::Contain),
        ("cover", Fit::Cover),
    ];
    let width = fields.integer("width", 1..=MAX_SIDE, false);
    let height = fields.integer("height", 1..=MAX_SIDE, false);
    let fit = fields.choice("fit", &names(&FITS), false);
    let gravity = fields.choice("position", &names(&GRAVITIES), false);
    let background = fields.string("letterbox_color", false).and_then(|raw| {
        let colour = parse_colour(&raw);
        if colour.is_none() {
            fields.reject(
                "letterbox_color must be a colour name, #rgb, #rrggbb, #rrggbbaa or transparent"
                    .to_owned(),
            );
        }
        colour
    });
    if width.is_none() && height.is_none() && !fields.has_problems() {
        fields.reject("width or height is required".to_owned());
    }
    Some(Plan::Ready(Operation::Resize(ResizeSpec {
        width: width.map(side),
        height: height.map(side),
        fit: fit.map_or(Fit::Fill, |fit| lookup(&FITS, &fit)),
        gravity: gravity.map_or(Gravity::Center, |gravity| lookup(&GRAVITIES, &gravity)),
        background,
    })))
}

/// A CSS colour (name, hex with or without alpha, `transparent`) as RGBA.
pub fn parse_colour(raw: &str) -> Option<[u8; 4]> {
    csscolorparser::parse(raw.trim())
        .ok()
        .map(|colour| colour.to_rgba8())
}

fn crop(fields: &mut Fields, width: u32, height: u32) -> Option<Plan> {
    let mut corner = |name| fields.integer(name, 0..=MAX_COORDINATE, true);
    let (x1, y1, x2, y2) = (corner("x1"), corner("y1"), corner("x2"), corner("y2"));
    let (x1, y1, x2, y2) = (x1?, y1?, x2?, y2?);
    for (low, high, low_name, high_name, limit, side) in [
        (x1, x2, "x1", "x2", width, "width"),
        (y1, y2, "y1", "y2", height, "height"),
    ] {
        if high <= low {
            fields.reject(format!("{high_name} must be greater than {low_name}"));
        } else if high > i64::from(limit) {
            fields.reject(format!(
                "{high_name} must be at most the image {side} ({limit})"
            ));
        }
    }
    let coordinate = |value: i64| u32::try_from(value).unwrap_or(u32::MAX);
    Some(Plan::Ready(Operation::Crop(Rect {
        x: coordinate(x1),
        y: coordinate(y1),
        width: coordinate(x2.saturating_sub(x1).max(0)),
        height: coordinate(y2.saturating_sub(y1).max(0)),
    })))
}

fn convert(fields: &mut Fields) -> Option<Plan> {
    const FORMATS: [(&str, Format); 4] = [
        ("jpeg", Format::Jpeg),
        ("jpg", Format::Jpeg),
        ("png", Format::Png),
        ("webp", Format::Webp),
    ];
    let format = fields.choice("format", &names(&FORMATS), true);
    let quality = fields.integer("quality", 1..=100, false);
    Some(Plan::Ready(Operation::Convert {
        format: lookup(&FORMATS, &format?),
        quality: quality.map(|quality| quality as u8),
    }))
}

fn rotate(fields: &mut Fields) -> Option<Plan> {
    let angle = fields.any_number("angle", true);
    let unit = fields.choice("unit", &["degrees", "radians"], false);
    let degrees = match unit.as_deref() {
        Some("radians") => angle?.to_degrees(),
        _ => angle?,
    };
    // An angle so large that it has no value in degrees (1e308 radians) is no angle at all.
    if !degrees.is_finite() {
        return fields.problem("angle is too large to be an angle".to_owned());
    }
    Some(Plan::Ready(Operation::Rotate { degrees }))
}

fn modulate(fields: &mut Fields) -> Option<Plan> {
    // Only the older API has hue and lightness: a body with either is read the older way.
    let modulation = if fields.contains("hue") || fields.contains("lightness") {
        Modulation::Lch(older_modulation(fields))
    } else {
        Modulation::Adjust(adjustments(fields))
    };
    Some(Plan::Ready(Operation::Modulate(modulation)))
}

fn adjustments(fields: &mut Fields) -> Adjustments {
    let mut adjustment = |name| fields.number(name, -100.0..=100.0, false).unwrap_or(0.0);
    Adjustments {
        brightness: adjustment("brightness"),
        saturation: adjustment("saturation"),
        exposure: adjustment("exposure"),
        contrast: adjustment("contrast"),
    }
}

/// The older API's modulate, as sharp's: brightness and saturation are multipliers, from 0 to 100
/// (sharp sets no maximum; a hundredfold already whitens all but the darkest pixels). Lightness
/// runs from 0 to 100, so ±100 spans every shift, as ±360 spans every turn of hue.
fn older_modulation(fields: &mut Fields) -> LchModulation {
    for current_only in ["exposure", "contrast"] {
        if fields.contains(current_only) {
            fields.reject(format!(
                "{current_only} cannot be combined with hue or lightness: those select the older \
                 modulate, where brightness and saturation are multipliers and there is no \
                 {current_only}"
            ));
        }
    }
    let mut multiplier = |name| fields.number(name, 0.0..=100.0, false).unwrap_or(1.0);
    let (brightness, saturation) = (multiplier("brightness"), multiplier("saturation"));
    LchModulation {
        brightness,
        saturation,
        hue: fields.integer("hue", -360..=360, false).unwrap_or(0) as f64,
        lightness: fields
            .number("lightness", -100.0..=100.0, false)
            .unwrap_or(0.0),
    }
}

fn watermark(fields: &mut Fields) -> Option<Plan> {
    const REPETITIONS: [(&str, Repetition); 4] = [
        ("no_repeat", Repetition::NoRepeat),
        ("repeat", Repetition::Repeat),
        ("repeat_x", Repetition::RepeatX),
        ("repeat_y", Repetition::RepeatY),
    ];
    let offset = -(MAX_COORDINATE as f64)..=MAX_COORDINATE as f64;
    let placements = fields.objects("watermarks", 1..=5, |item| {
        let id = item.string("id", true).and_then(|raw| {
            let id = ImageId::parse(&raw);
            if id.is_none() {
                item.reject("id must be a valid image id".to_owned());
            }
            id
        });
        let left = item.number("left", offset.clone(), false).unwrap_or(0.0);
        let top = item.number("top", offset.clone(), false).unwrap_or(0.0);
        let size = 1.0..=MAX_SIDE as f64;
        let width = item.number("width", size.clone(), false);
        let height = item.number("height", size, false);
        let repetition = item.choice("repetition_mode", &names(&REPETITIONS), false);
        Some(Placement {
            image: id?,
            left: left.round() as i64,
            top: top.round() as i64,
            width: width.map(|w| w.round() as u32),
            height: height.map(|h| h.round() as u32),
            repetition: repetition.map_or(Repetition::NoRepeat, |mode| lookup(&REPETITIONS, &mode)),
        })
    });
    placements.map(Plan::Watermarks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(kind: Transformation, body: Value) -> Vec<String> {
        match parse(kind, body.as_object().unwrap().clone(), (640, 480)) {
            Err(ApiError::Validation(problems)) => problems,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    fn operation(kind: Transformation, body: Value) -> Operation {
        match parse(kind, body.as_object().unwrap().clone(), (640, 480))
            .unwrap()
            .plan
        {
            Plan::Ready(operation) => operation,
            other => panic!("expected an operation, got {other:?}"),
        }
    }

    #[test]
    fn every_out_of_range_field_is_named() {
        let cases = [
            (
                Transformation::Resize,
                json!({"width": 0}),
                "width must be an integer between 1 and 10000",
            ),
            (
                Transformation::Resize,
                json!({"height": 10001}),
                "height must be an integer between 1 and 10000",
            ),
            (
                Transformation::Resize,
                json!({"width": 1.5}),
                "width must be an integer between 1 and 10000",
            ),
            (
                Transformation::Resize,
                json!({"width": 9, "fit": "stretch"}),
                "fit must be one of fill, contain, cover",
            ),
            (
                Transformation::Resize,
                json!({"width": 9, "position": "middle"}),
                "position must be one of center, top, right, bottom, left, top-left, top-right, bottom-left, bottom-right",
            ),
            (
                Transformation::Resize,
                json!({"width": 9, "letterbox_color": "#12"}),
                "letterbox_color must be a colour name, #rgb, #rrggbb, #rrggbbaa or transparent",
            ),
            (
                Transformation::Resize,
                json!({}),
                "width or height is required",
            ),
            (
                Transformation::Crop,
                json!({"x1": 0.5, "y1": 0, "x2": 10, "y2": 10}),
                "x1 must be an integer between 0 and 100000",
            ),
            (
                Transformation::Crop,
                json!({"x1": -1, "y1": 0, "x2": 10, "y2": 10}),
                "x1 must be an integer between 0 and 100000",
            ),
            (
                Transformation::Crop,
                json!({"x1": 10, "y1": 0, "x2": 10, "y2": 10}),
                "x2 must be greater than x1",
            ),
            (
                Transformation::Crop,
                json!({"x1": 0, "y1": 0, "x2": 641, "y2": 10}),
                "x2 must be at most the image width (640)",
            ),
            (
                Transformation::Crop,
                json!({"x1": 0, "y1": 0, "x2": 10, "y2": 481}),
                "y2 must be at most the image height (480)",
            ),
            (
                Transformation::Crop,
                json!({"x1": 0, "y1": 0, "x2": 10}),
                "y2 is required",
            ),
            (
                Transformation::Convert,
                json!({"format": "gif"}),
                "format must be one of jpeg, jpg, png, webp",
            ),
            (
                Transformation::Convert,
                json!({"format": "png", "quality": 101}),
                "quality must be an integer between 1 and 100",
            ),
            (
                Transformation::Convert,
                json!({"format": "png", "quality": 0}),
                "quality must be an integer between 1 and 100",
            ),
            (Transformation::Rotate, json!({}), "angle is required"),
            (
                Transformation::Rotate,
                json!({"angle": "90"}),
                "angle must be a number",
            ),
            (
                Transformation::Rotate,
                json!({"angle": 1e308, "unit": "radians"}),
                "angle is too large to be an angle",
            ),
            (
                Transformation::Rotate,
                json!({"angle": 90, "unit": "turns"}),
                "unit must be one of degrees, radians",
            ),
            (
                Transformation::Mirror,
                json!({"mode": "diagonal"}),
                "mode must be one of horizontal, vertical, both",
            ),
            (Transformation::Mirror, json!({}), "mode is required"),
            (
                Transformation::Blur,
                json!({"sigma": 0.5}),
                "sigma must be a number between 1 and 1000",
            ),
            (
                Transformation::Blur,
                json!({"sigma": 1001}),
                "sigma must be a number between 1 and 1000",
            ),
            (
                Transformation::Modulate,
                json!({"brightness": 101}),
                "brightness must be a number between -100 and 100",
            ),
            (
                Transformation::Modulate,
                json!({"saturation": -101}),
                "saturation must be a number between -100 and 100",
            ),
            (
                Transformation::Modulate,
                json!({"exposure": "up"}),
                "exposure must be a number between -100 and 100",
            ),
            (
                Transformation::Modulate,
                json!({"contrast": 100.5}),
                "contrast must be a number between -100 and 100",
            ),
            (
                Transformation::Modulate,
                json!({"hue": 120.5}),
                "hue must be an integer between -360 and 360",
            ),
            (
                Transformation::Modulate,
                json!({"hue": 0, "brightness": -0.5}),
                "brightness must be a number between 0 and 100",
            ),
            (
                Transformation::Modulate,
                json!({"lightness": 0, "saturation": 101}),
                "saturation must be a number between 0 and 100",
            ),
            (
                Transformation::Modulate,
                json!({"lightness": -100.5}),
                "lightness must be a number between -100 and 100",
            ),
            (
                Transformation::Modulate,
                json!({"lightness": 10, "contrast": 5}),
                "contrast cannot be combined with hue or lightness: those select the older \
                 modulate, where brightness and saturation are multipliers and there is no contrast",
            ),
            (
                Transformation::Watermark,
                json!({}),
                "watermarks is required",
            ),
            (
                Transformation::Watermark,
                json!({"watermarks": []}),
                "watermarks must be an array of 1 to 5 objects",
            ),
            (
                Transformation::Watermark,
                json!({"watermarks": [{}, {}, {}, {}, {}, {}]}),
                "watermarks must be an array of 1 to 5 objects",
            ),
            (
                Transformation::Watermark,
                json!({"watermarks": [{"id": "x"}]}),
                "watermarks[0].id must be a valid image id",
            ),
            (
                Transformation::Watermark,
                json!({"watermarks": [1]}),
                "watermarks[0] must be an object",
            ),
            (
                Transformation::Watermark,
                json!({"watermarks": [{"id": "image_00mx0q8z4cevents00000000", "width": 0}]}),
                "watermarks[0].width must be a number between 1 and 10000",
            ),
            (
                Transformation::Watermark,
                json!({"watermarks": [{"id": "image_00mx0q8z4cevents00000000", "repetition_mode": "tile"}]}),
                "watermarks[0].repetition_mode must be one of no_repeat, repeat, repeat_x, repeat_y",
            ),
            (
                Transformation::Blur,
                json!({"name": ""}),
                "name must be between 1 and 30 characters long",
            ),
            (
                Transformation::Blur,
                json!({"name": "n".repeat(31)}),
                "name must be between 1 and 30 characters long",
            ),
        ];
        for (kind, body, expected) in cases {
            assert_eq!(problems(kind, body.clone()), [expected], "{kind:?} {body}");
        }
    }

    #[test]
    fn all_problems_come_back_together() {
        let found = problems(
            Transformation::Resize,
            json!({"width": 0, "fit": "x", "name": ""}),
        );
        assert_eq!(found.len(), 3, "{found:?}");
    }

    #[test]
    fn defaults_and_aliases() {
        assert!(
            matches!(operation(Transformation::Blur, json!({})), Operation::Blur { sigma } if sigma == 20.0)
        );
        assert!(matches!(
            operation(Transformation::Convert, json!({"format": "jpg"})),
            Operation::Convert {
                format: Format::Jpeg,
                quality: None
            }
        ));
        let Operation::Rotate { degrees } = operation(
            Transformation::Rotate,
            json!({"angle": std::f64::consts::PI, "unit": "radians"}),
        ) else {
            panic!()
        };
        assert!((degrees - 180.0).abs() < 1e-9);
        let Operation::Resize(spec) = operation(
            Transformation::Resize,
            json!({"width": 10, "letterbox_color": "red"}),
        ) else {
            panic!()
        };
        assert_eq!(
            (spec.fit, spec.gravity, spec.background),
            (Fit::Fill, Gravity::Center, Some([255, 0, 0, 255]))
        );
        let Operation::Crop(rect) = operation(
            Transformation::Crop,
            json!({"x1": 1, "y1": 2, "x2": 640, "y2": 480}),
        ) else {
            panic!()
        };
        assert_eq!(
            rect,
            Rect {
                x: 1,
                y: 2,
                width: 639,
                height: 478
            }
        );
        assert!(matches!(
            operation(Transformation::Modulate, json!({})),
            Operation::Modulate(Modulation::Adjust(adjustments))
                if adjustments == Adjustments::default()
        ));
    }

    #[test]
    fn hue_or_lightness_selects_the_older_modulate() {
        let modulation = |body| match operation(Transformation::Modulate, body) {
            Operation::Modulate(modulation) => modulation,
            other => panic!("expected modulate, got {other:?}"),
        };
        assert_eq!(
            modulation(json!({"brightness": 0.5, "saturation": 2})),
            Modulation::Adjust(Adjustments {
                brightness: 0.5,
                saturation: 2.0,
                ..Adjustments::default()
            })
        );
        assert_eq!(
            modulation(json!({"brightness": 0.5, "saturation": 2, "hue": 120})),
            Modulation::Lch(LchModulation {
                brightness: 0.5,
                saturation: 2.0,
                hue: 120.0,
                lightness: 0.0,
            })
        );
        assert_eq!(
            modulation(json!({"lightness": 40})),
            Modulation::Lch(LchModulation {
                lightness: 40.0,
                ..LchModulation::default()
            })
        );
        assert_eq!(
            modulation(json!({"brightness": 0.5, "hue": null, "lightness": null})),
            Modulation::Adjust(Adjustments {
                brightness: 0.5,
                ..Adjustments::default()
            }),
            "null is absent"
        );
        let found = problems(
            Transformation::Modulate,
            json!({"exposure": 1, "contrast": 2, "brightness": -1, "hue": 1.5, "lightness": "up"}),
        );
        assert_eq!(found.len(), 5, "every problem at once: {found:?}");
        assert!(found[0].starts_with("exposure cannot be combined with hue or lightness"));
    }

    #[test]
    fn colours_in_every_documented_spelling() {
        assert_eq!(parse_colour("transparent"), Some([0, 0, 0, 0]));
        assert_eq!(parse_colour("rebeccapurple"), Some([102, 51, 153, 255]));
        assert_eq!(parse_colour("#fff"), Some([255, 255, 255, 255]));
        assert_eq!(parse_colour("#102030"), Some([16, 32, 48, 255]));
        assert_eq!(parse_colour("#10203080"), Some([16, 32, 48, 128]));
        assert_eq!(parse_colour("#zzz"), None);
        assert_eq!(parse_colour("not a colour"), None);
    }
}
