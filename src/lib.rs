pub use firefighter_core as core;
