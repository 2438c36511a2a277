//! Contract calls: a Solidity function signature (`transfer(address,uint256)`, optionally
//! with `returns (…)`) and JSON parameters in, ABI call data out; a call's return data back
//! to JSON. Parsing, type resolution, coercion and encoding are alloy's (`alloy-json-abi`,
//! `alloy-dyn-abi`); this module only maps JSON onto alloy's values and back.
//!
//! JSON parameters: a string is coerced to the parameter's type by alloy's value parser
//! (`"1000"`, `"0x…"`, `"true"`, `"[1,2]"`, `"(1,0xab)"`); an integer JSON number is taken
//! for integer types (larger ones, or fractions, must be strings); a boolean for `bool`; a
//! JSON array for an array or tuple type, element by element. An `address` must be a valid
//! address and, when mixed-case, carry its EIP-55 checksum.

use alloy_dyn_abi::{DynSolCall, DynSolType, DynSolValue, Specifier as _};
use alloy_json_abi::Function;
use serde_json::Value;

/// A parsed function: its canonical signature and its input and output types.
#[derive(Debug, Clone)]
pub struct AbiFunction {
    call: DynSolCall,
    signature: String,
    outputs: Vec<String>,
}

impl AbiFunction {
    /// Parses `signature` (`name(type,…)` or `function name(type name,…) view returns
    /// (type,…)`). Every type must resolve (no user-defined struct names).
    pub fn parse(signature: &str) -> Result<AbiFunction, String> {
        let f = Function::parse(signature.trim())
            .map_err(|e| format!("abiFunctionSignature does not parse: {e}"))?;
        let call: DynSolCall = f
            .resolve()
            .map_err(|e| format!("abiFunctionSignature has a type alloy cannot resolve: {e}"))?;
        Ok(AbiFunction {
            signature: f.signature(),
            outputs: f
                .outputs
                .iter()
                .map(|p| p.selector_type().into_owned())
                .collect(),
            call,
        })
    }

    /// The canonical signature (`transfer(address,uint256)`).
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// Whether the signature declares return types.
    pub fn has_outputs(&self) -> bool {
        !self.outputs.is_empty()
    }

    /// The call data: the selector and `params` encoded; an error names the parameter
    /// (1-based) that does not fit its type.
    pub fn encode(&self, params: &[Value]) -> Result<Vec<u8>, String> {
        let types = self.call.types();
        if params.len() != types.len() {
            return Err(format!(
                "abiParameters has {} values and {} takes {}",
                params.len(),
                self.signature,
                types.len()
            ));
        }
        let mut values = Vec::with_capacity(params.len());
        for (i, (ty, v)) in types.iter().zip(params).enumerate() {
            let value = to_value(ty, v).map_err(|e| {
                format!(
                    "abiParameters[{i}] does not fit {}: {e}",
                    ty.sol_type_name()
                )
            })?;
            values.push(value);
        }
        self.call
            .abi_encode_input(&values)
            .map_err(|e| format!("abiParameters do not encode: {e}"))
    }

    /// The return data decoded by the declared return types, one JSON value each.
    pub fn decode_output(&self, data: &[u8]) -> Result<Vec<Value>, String> {
        let values = self.call.abi_decode_output(data).map_err(|e| {
            format!(
                "the answer (0x{}) does not decode as ({}): {e}",
                hex::encode(data),
                self.outputs.join(",")
            )
        })?;
        Ok(values.iter().map(to_json).collect())
    }
}

fn to_value(ty: &DynSolType, v: &Value) -> Result<DynSolValue, String> {
    let each = |inner: &[&DynSolType], items: &[Value]| -> Result<Vec<DynSolValue>, String> {
        inner
            .iter()
            .zip(items)
            .enumerate()
            .map(|(i, (t, v))| to_value(t, v).map_err(|e| format!("[{i}]: {e}")))
            .collect()
    };
    match (ty, v) {
        (DynSolType::Address, Value::String(s)) => {
            crate::address::parse_evm_address(s).map(DynSolValue::Address)
        }
        (DynSolType::Array(t), Value::Array(items)) => {
            Ok(DynSolValue::Array(each(&vec![&**t; items.len()], items)?))
        }
        (DynSolType::FixedArray(t, n), Value::Array(items)) => {
            if items.len() != *n {
                return Err(format!("expected {n} elements, got {}", items.len()));
            }
            Ok(DynSolValue::FixedArray(each(&vec![&**t; *n], items)?))
        }
        (DynSolType::Tuple(ts), Value::Array(items)) => {
            if items.len() != ts.len() {
                return Err(format!(
                    "expected {} tuple members, got {}",
                    ts.len(),
                    items.len()
                ));
            }
            let refs: Vec<&DynSolType> = ts.iter().collect();
            Ok(DynSolValue::Tuple(each(&refs, items)?))
        }
        (_, Value::String(s)) => ty.coerce_str(s).map_err(|e| e.to_string()),
        (DynSolType::Uint(_) | DynSolType::Int(_), Value::Number(n)) => {
            if n.is_f64() {
                return Err("give fractional or large numbers as decimal strings".into());
            }
            ty.coerce_str(&n.to_string()).map_err(|e| e.to_string())
        }
        (DynSolType::Bool, Value::Bool(b)) => Ok(DynSolValue::Bool(*b)),
        (_, other) => Err(format!("unexpected JSON {other}")),
    }
}

/// A decoded value as JSON: integers as decimal strings (exact), addresses EIP-55, bytes
/// as `0x`-hex, arrays and tuples as arrays.
fn to_json(v: &DynSolValue) -> Value {
    match v {
        DynSolValue::Bool(b) => Value::Bool(*b),
        DynSolValue::Int(i, _) => Value::String(i.to_string()),
        DynSolValue::Uint(u, _) => Value::String(u.to_string()),
        DynSolValue::FixedBytes(w, size) => {
            Value::String(format!("0x{}", hex::encode(&w[..*size])))
        }
        DynSolValue::Address(a) => Value::String(a.to_checksum(None)),
        DynSolValue::Function(f) => Value::String(format!("0x{}", hex::encode(f.as_slice()))),
        DynSolValue::Bytes(b) => Value::String(format!("0x{}", hex::encode(b))),
        DynSolValue::String(s) => Value::String(s.clone()),
        DynSolValue::Array(items)
        | DynSolValue::FixedArray(items)
        | DynSolValue::Tuple(items)
        | DynSolValue::CustomStruct { tuple: items, .. } => {
            Value::Array(items.iter().map(to_json).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn transfer_encodes_like_the_erc20_helper() {
        let f = AbiFunction::parse("transfer(address,uint256)").unwrap_or_else(|e| panic!("{e}"));
        let to = "0x1111111111111111111111111111111111111111";
        let data = f
            .encode(&[json!(to), json!("5")])
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = crate::parse_evm_address(to).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            data,
            crate::erc20_transfer_data(addr, alloy_primitives::U256::from(5u8))
        );
        // A JSON number is the same value.
        assert_eq!(f.encode(&[json!(to), json!(5)]), Ok(data));
        assert!(!f.has_outputs());
    }

    #[test]
    fn bad_signatures_and_parameters_are_refused() {
        for bad in [
            "transfer(address",
            "transfer(uint257)",
            "(uint256)",
            "f(Foo)",
            "",
        ] {
            assert!(AbiFunction::parse(bad).is_err(), "{bad}");
        }
        let f = AbiFunction::parse("transfer(address,uint256)").unwrap_or_else(|e| panic!("{e}"));
        for params in [
            json!(["0x1111111111111111111111111111111111111111"]),
            json!(["0x11", "1"]),
            json!(["0x1111111111111111111111111111111111111111", "-1"]),
            json!(["0x1111111111111111111111111111111111111111", "abc"]),
            json!(["0x1111111111111111111111111111111111111111", 1.5]),
            // A mixed-case address with a wrong EIP-55 checksum.
            json!([
                "0x1111111111111111111111111111111111111111".replace("0x11", "0xAb"),
                "1"
            ]),
        ] {
            let p = params.as_array().cloned().unwrap_or_default();
            assert!(f.encode(&p).is_err(), "{params}");
        }
        let e = f
            .encode(&[
                json!("0x1111111111111111111111111111111111111111"),
                json!("x"),
            ])
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("abiParameters[1]") && e.contains("uint256"),
            "{e}"
        );
    }

    #[test]
    fn arrays_tuples_and_outputs_round_trip() {
        let f = AbiFunction::parse(
            "function f(uint256[] ids, (address,bool) t, bytes data, string s) view returns (uint256, address, bytes, string, bool[2])",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.signature(), "f(uint256[],(address,bool),bytes,string)");
        let data = f
            .encode(&[
                json!(["1", 2]),
                json!(["0x2222222222222222222222222222222222222222", true]),
                json!("0xdead"),
                json!("hello"),
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            &data[..4],
            &alloy_primitives::keccak256(f.signature().as_bytes())[..4]
        );
        let out = f.call.abi_encode_output(&[
            DynSolValue::Uint(alloy_primitives::U256::from(7u8), 256),
            DynSolValue::Address(alloy_primitives::Address::repeat_byte(0xab)),
            DynSolValue::Bytes(vec![1, 2]),
            DynSolValue::String("hi".into()),
            DynSolValue::FixedArray(vec![DynSolValue::Bool(true), DynSolValue::Bool(false)]),
        ]);
        let out = out.unwrap_or_else(|e| panic!("{e}"));
        let decoded = f.decode_output(&out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            decoded,
            vec![
                json!("7"),
                // EIP-55, as eth_utils.to_checksum_address gives it.
                json!("0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"),
                json!("0x0102"),
                json!("hi"),
                json!([true, false]),
            ]
        );
        assert!(f.decode_output(&[1, 2, 3]).is_err());
    }
}
