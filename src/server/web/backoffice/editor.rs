//! A generic editor of records: a list of typed fields rendered as a form,
//! filled again from the submission when it is refused, and read back
//! with a message per wrong field.

use askama::Template;
use askama_web::WebTemplate;

use crate::server::web::forms::{FormData, Messages};
use crate::server::web::incidents::list::Choice;
use crate::server::web::page::Chrome;

/// How a field is typed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Input {
    Text,
    Password,
    LongText,
    Number,
    Checkbox,
    Select,
}

/// One field of a form.
#[derive(Debug, Clone)]
pub(super) struct Field {
    pub(super) name: &'static str,
    pub(super) label: &'static str,
    pub(super) help: &'static str,
    pub(super) input: Input,
    pub(super) value: String,
    pub(super) checked: bool,
    pub(super) choices: Vec<Choice>,
    pub(super) required: bool,
    /// Shown but not editable (the key of records identified by it).
    pub(super) read_only: bool,
    pub(super) messages: Vec<String>,
}

impl Field {
    fn new(name: &'static str, label: &'static str, input: Input) -> Field {
        Field {
            name,
            label,
            help: "",
            input,
            value: String::new(),
            checked: false,
            choices: Vec::new(),
            required: false,
            read_only: false,
            messages: Vec::new(),
        }
    }

    pub(super) fn text(name: &'static str, label: &'static str, value: impl Into<String>) -> Field {
        Field {
            value: value.into(),
            ..Field::new(name, label, Input::Text)
        }
    }

    pub(super) fn password(name: &'static str, label: &'static str) -> Field {
        Field::new(name, label, Input::Password)
    }

    pub(super) fn long_text(
        name: &'static str,
        label: &'static str,
        value: impl Into<String>,
    ) -> Field {
        Field {
            value: value.into(),
            ..Field::new(name, label, Input::LongText)
        }
    }

    pub(super) fn number(name: &'static str, label: &'static str, value: impl ToString) -> Field {
        Field {
            value: value.to_string(),
            ..Field::new(name, label, Input::Number)
        }
    }

    pub(super) fn checkbox(name: &'static str, label: &'static str, checked: bool) -> Field {
        Field {
            checked,
            ..Field::new(name, label, Input::Checkbox)
        }
    }

    pub(super) fn select(name: &'static str, label: &'static str, choices: Vec<Choice>) -> Field {
        Field {
            choices,
            ..Field::new(name, label, Input::Select)
        }
    }

    pub(super) fn required(mut self) -> Field {
        self.required = true;
        self
    }

    pub(super) fn help(mut self, help: &'static str) -> Field {
        self.help = help;
        self
    }

    pub(super) fn read_only(mut self, yes: bool) -> Field {
        self.read_only = yes;
        self
    }

    pub(super) fn is_text(&self) -> bool {
        self.input == Input::Text
    }

    pub(super) fn is_password(&self) -> bool {
        self.input == Input::Password
    }

    pub(super) fn is_long_text(&self) -> bool {
        self.input == Input::LongText
    }

    pub(super) fn is_number(&self) -> bool {
        self.input == Input::Number
    }

    pub(super) fn is_checkbox(&self) -> bool {
        self.input == Input::Checkbox
    }

    pub(super) fn is_select(&self) -> bool {
        self.input == Input::Select
    }
}

/// Puts the submitted values and the messages back into the fields.
pub(super) fn refill(fields: &mut [Field], form: &FormData, messages: &Messages) {
    for f in fields.iter_mut() {
        if !f.read_only {
            match f.input {
                Input::Checkbox => f.checked = form.checked(f.name),
                Input::Select => {
                    let chosen = form.text(f.name);
                    for c in &mut f.choices {
                        c.selected = c.value == chosen;
                    }
                }
                // A password is never sent back to the browser.
                Input::Password => {}
                _ => f.value = form.raw(f.name).to_owned(),
            }
        }
        f.messages = messages.about(f.name).to_vec();
    }
}

/// Messages not about one of the fields (uniqueness, the store).
pub(super) fn general_messages(fields: &[Field], messages: &Messages) -> Vec<String> {
    messages
        .0
        .iter()
        .filter(|(name, _)| !fields.iter().any(|f| f.name == name.as_str()))
        .flat_map(|(_, m)| m.iter().cloned())
        .collect()
}

/// A page with one form.
#[derive(Template, WebTemplate)]
#[template(path = "backoffice/edit.html")]
pub(super) struct EditPage {
    pub(super) chrome: Chrome,
    pub(super) title: String,
    /// Where "back" goes, under the mount prefix.
    pub(super) back: String,
    pub(super) back_label: String,
    /// Where the form posts, under the mount prefix.
    pub(super) action: String,
    pub(super) fields: Vec<Field>,
    pub(super) messages: Vec<String>,
    pub(super) submit: &'static str,
    pub(super) notice: Option<&'static str>,
    /// A second form below (set a password...), already rendered by its own template.
    pub(super) extra: Option<ExtraForm>,
}

/// A second, smaller form on an edit page.
#[derive(Debug, Clone)]
pub(super) struct ExtraForm {
    pub(super) title: &'static str,
    pub(super) action: String,
    pub(super) fields: Vec<Field>,
    pub(super) messages: Vec<String>,
    pub(super) submit: &'static str,
}

/// Reads typed values, collecting a message per wrong field.
#[derive(Debug)]
pub(super) struct Reader<'a> {
    pub(super) form: &'a FormData,
    pub(super) messages: Messages,
}

impl<'a> Reader<'a> {
    pub(super) fn new(form: &'a FormData) -> Reader<'a> {
        Reader {
            form,
            messages: Messages::default(),
        }
    }

    /// Trimmed text of at most `max` characters; required when `min` > 0.
    pub(super) fn text(&mut self, name: &str, min: usize, max: usize) -> String {
        let t = self.form.text(name);
        let n = t.chars().count();
        if n < min {
            self.messages.push(
                name,
                if n == 0 {
                    "this field is required".to_owned()
                } else {
                    format!("at least {min} characters")
                },
            );
        } else if n > max {
            self.messages
                .push(name, format!("at most {max} characters (this has {n})"));
        } else if t
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            self.messages
                .push(name, "control characters are not allowed");
        }
        t.to_owned()
    }

    pub(super) fn int(&mut self, name: &str, min: i64, max: i64) -> i64 {
        match self.form.text(name).parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            Ok(_) => {
                self.messages
                    .push(name, format!("a whole number from {min} to {max}"));
                0
            }
            Err(_) => {
                self.messages.push(name, "a whole number is required");
                0
            }
        }
    }

    pub(super) fn checked(&self, name: &str) -> bool {
        self.form.checked(name)
    }

    /// A value parsed with `FromStr`, required.
    pub(super) fn parsed<T: std::str::FromStr>(&mut self, name: &str, what: &str) -> Option<T> {
        match self.form.text(name).parse::<T>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.messages
                    .push(name, format!("choose {what} from the list"));
                None
            }
        }
    }

    pub(super) fn problem(&mut self, name: &str, message: impl Into<String>) {
        self.messages.push(name, message);
    }
}
