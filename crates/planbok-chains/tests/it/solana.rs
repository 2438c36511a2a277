use serde_json::Value;
pub fn python_cases() -> Vec<Value> {
    Vec::new()
}
