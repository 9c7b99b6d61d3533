//! Checking JSON bodies field by field, collecting every problem so that one 422 lists them all.

use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use crate::domain::{ApiError, name_problem};

pub struct Fields {
    object: Map<String, Value>,
    problems: Vec<String>,
}

impl Fields {
    pub fn new(object: Map<String, Value>) -> Self {
        Self {
            object,
            problems: Vec::new(),
        }
    }

    /// Whether the body has the field. `null` counts as absent.
    pub fn contains(&self, field: &str) -> bool {
        self.object.get(field).is_some_and(|value| !value.is_null())
    }

    /// The field's value, noting a problem if it is required and absent. `null` counts as absent.
    fn value(&mut self, field: &str, required: bool) -> Option<Value> {
        match self.object.remove(field) {
            Some(Value::Null) | None => {
                if required {
                    self.problems.push(format!("{field} is required"));
                }
                None
            }
            Some(value) => Some(value),
        }
    }

    /// Records a problem; also for rules that span fields, which the parser checks itself.
    pub fn problem<T>(&mut self, message: String) -> Option<T> {
        self.problems.push(message);
        None
    }

    pub fn string(&mut self, field: &str, required: bool) -> Option<String> {
        match self.value(field, required)? {
            Value::String(text) => Some(text),
            _ => self.problem(format!("{field} must be a string")),
        }
    }

    /// A string of `length` characters.
    pub fn text(
        &mut self,
        field: &str,
        length: RangeInclusive<usize>,
        required: bool,
    ) -> Option<String> {
        let text = self.string(field, required)?;
        if length.contains(&text.chars().count()) {
            Some(text)
        } else {
            self.problem(format!(
                "{field} must be between {} and {} characters long",
                length.start(),
                length.end()
            ))
        }
    }

    /// An image name: 1 to 30 characters.
    pub fn name(&mut self, field: &str, required: bool) -> Option<String> {
        let name = self.string(field, required)?;
        match name_problem(field, &name) {
            Some(problem) => self.problem(problem),
            None => Some(name),
        }
    }

    /// A whole number within `range` (`10` and `10.0` are both whole; `10.5` is not).
    pub fn integer(
        &mut self,
        field: &str,
        range: RangeInclusive<i64>,
        required: bool,
    ) -> Option<i64> {
        let value = self.value(field, required)?;
        let whole = value.as_i64().or_else(|| {
            value
                .as_f64()
                .filter(|number| number.fract() == 0.0 && number.abs() < 9.0e15)
                .map(|number| number as i64)
        });
        match whole.filter(|number| range.contains(number)) {
            Some(number) => Some(number),
            None => self.problem(format!(
                "{field} must be an integer between {} and {}",
                range.start(),
                range.end()
            )),
        }
    }

    /// Any number within `range`.
    pub fn number(
        &mut self,
        field: &str,
        range: RangeInclusive<f64>,
        required: bool,
    ) -> Option<f64> {
        let value = self.value(field, required)?;
        match value.as_f64().filter(|number| range.contains(number)) {
            Some(number) => Some(number),
            None => self.problem(format!(
                "{field} must be a number between {} and {}",
                range.start(),
                range.end()
            )),
        }
    }

    /// Any number at all.
    pub fn any_number(&mut self, field: &str, required: bool) -> Option<f64> {
        let value = self.value(field, required)?;
        match value.as_f64() {
            Some(number) => Some(number),
            None => self.problem(format!("{field} must be a number")),
        }
    }

    /// An array of objects, each checked by `item` with its own fields (named `field[i].x`).
    pub fn objects<T>(
        &mut self,
        field: &str,
        count: RangeInclusive<usize>,
        mut item: impl FnMut(&mut Fields) -> Option<T>,
    ) -> Option<Vec<T>> {
        let value = self.value(field, true)?;
        let Some(array) = value
            .as_array()
            .filter(|array| count.contains(&array.len()))
        else {
            return self.problem(format!(
                "{field} must be an array of {} to {} objects",
                count.start(),
                count.end()
            ));
        };
        let mut items = Vec::with_capacity(array.len());
        for (index, element) in array.iter().enumerate() {
            let Some(object) = element.as_object() else {
                self.problems
                    .push(format!("{field}[{index}] must be an object"));
                continue;
            };
            let mut fields = Fields::new(object.clone());
            let parsed = item(&mut fields);
            let prefix = format!("{field}[{index}].");
            self.problems.extend(
                fields
                    .problems
                    .into_iter()
                    .map(|problem| format!("{prefix}{problem}")),
            );
            items.extend(parsed);
        }
        Some(items)
    }

    /// Adds a problem found by the caller, such as one relating two fields.
    pub fn reject(&mut self, problem: String) {
        self.problems.push(problem);
    }

    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// One of `choices`, exactly.
    pub fn choice(&mut self, field: &str, choices: &[&str], required: bool) -> Option<String> {
        let value = self.value(field, required)?;
        match value.as_str().filter(|text| choices.contains(text)) {
            Some(text) => Some(text.to_owned()),
            None => self.problem(format!("{field} must be one of {}", choices.join(", "))),
        }
    }

    /// Every problem found, as one validation error.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Fields {
        Fields::new(value.as_object().unwrap().clone())
    }

    fn problems(fields: Fields) -> Vec<String> {
        match fields.finish() {
            Err(ApiError::Validation(problems)) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn reads_valid_fields() {
        let mut body = fields(json!({"name": "x", "size": 10.0, "kind": "b"}));
        assert_eq!(body.name("name", true).as_deref(), Some("x"));
        assert_eq!(body.integer("size", 1..=10, true), Some(10));
        assert_eq!(body.choice("kind", &["a", "b"], true).as_deref(), Some("b"));
        assert_eq!(body.integer("absent", 1..=10, false), None);
        assert!(body.finish().is_ok());
    }

    #[test]
    fn collects_every_problem_in_order() {
        let mut body = fields(json!({"name": "", "size": 10.5, "kind": "c", "other": 1}));
        body.name("name", true);
        body.integer("size", 1..=10, true);
        body.choice("kind", &["a", "b"], true);
        body.string("missing", true);
        assert_eq!(
            problems(body),
            [
                "name must be between 1 and 30 characters long",
                "size must be an integer between 1 and 10",
                "kind must be one of a, b",
                "missing is required"
            ]
        );
    }

    #[test]
    fn text_lengths_count_characters() {
        let mut body = fields(json!({"short": "", "long": "ééé", "fits": "éé"}));
        assert_eq!(body.text("short", 1..=2, true), None);
        assert_eq!(body.text("long", 1..=2, true), None);
        assert_eq!(body.text("fits", 1..=2, true).as_deref(), Some("éé"));
        assert_eq!(
            problems(body),
            [
                "short must be between 1 and 2 characters long",
                "long must be between 1 and 2 characters long"
            ]
        );
    }

    #[test]
    fn wrong_types_are_problems_not_panics() {
        let mut body = fields(json!({"name": 3, "size": "3", "kind": 1}));
        body.name("name", true);
        body.integer("size", 1..=10, true);
        body.choice("kind", &["a"], true);
        assert_eq!(problems(body).len(), 3);
        let mut body = fields(json!({"size": 11}));
        body.integer("size", 1..=10, true);
        assert_eq!(problems(body).len(), 1);
    }
}
