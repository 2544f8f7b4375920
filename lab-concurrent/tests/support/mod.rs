//! What lab-concurrent's test files share.

/// Every server model, as `--model` names it.
pub const MODELS: [&str; 7] = [
    "iterative",
    "thread",
    "pool",
    "prefork",
    "fork",
    "event",
    "async",
];
