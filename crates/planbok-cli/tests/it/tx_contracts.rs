//! Contract execution, view calls and NFT transfers against anvil with OpenZeppelin's
//! compiled contracts: every effect read back from the chain with call data built here
//! (selectors and words by hand, not by the server's encoder).

use serde_json::{Value, json};

use crate::anvil::{Anvil, ETH, SEPOLIA, abi_strings, anvil_ready, decimal18, word, word_address};
use crate::rest::{Custody, Stack, assert_err, assert_ok, idem};
use crate::transactions::{check_signer, settle, stack_with_wallet, transfer};

fn execute(s: &Stack, body: Value) -> (u16, Value) {
    s.post("/v2/organization/transactions/contract-execution", body)
}

fn register(s: &Stack, standard: &str, address: &str, decimals: u8) -> String {
    assert_ok(s.post(
        "/v2/tokens",
        json!({"idempotencyKey": idem(), "blockchain": "ETH-SEPOLIA", "standard": standard,
               "name": format!("Test {standard}"), "symbol": "T", "decimals": decimals,
               "address": address}),
    ))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn contract_execution_view_calls_and_estimates_on_openzeppelin_contracts() {
    if !anvil_ready() {
        return;
    }
    let anvil = Anvil::start(SEPOLIA);
    let (s, wallet, address) = stack_with_wallet(&anvil, Custody::Standard, "", 10 * ETH).await;
    let token = anvil.deploy_erc20();
    anvil.mint(&token, &address, 100 * ETH);
    let receiver = "0x000000000000000000000000000000000000bEEF";

    // A view call decodes balanceOf by its `returns (uint256)`; without return types the
    // raw answer comes back.
    let view = |sig: &str, params: Value| {
        s.post(
            "/v2/transactions/contract-view/call",
            json!({"walletId": wallet, "contractAddress": token, "abiFunctionSignature": sig,
                   "abiParameters": params}),
        )
    };
    let r = assert_ok(view(
        "balanceOf(address) returns (uint256)",
        json!([address]),
    ));
    assert_eq!(r["result"], json!([(100 * ETH).to_string()]), "{r}");
    let r = assert_ok(view("balanceOf(address)", json!([address])));
    assert!(r["result"].is_null(), "{r}");
    assert_eq!(r["data"], format!("0x{}", word(100 * ETH)).as_str());
    let r = assert_ok(view("function symbol() view returns (string)", json!([])));
    assert_eq!(r["result"], json!(["TT"]), "{r}");
    // By chain and any caller, no wallet.
    let r = assert_ok(s.post(
        "/v2/transactions/contract-view/call",
        json!({"blockchain": "ETH-SEPOLIA", "contractAddress": token,
               "abiFunctionSignature": "balanceOf(address) returns (uint256)",
               "abiParameters": [receiver]}),
    ));
    assert_eq!(r["result"], json!(["0"]), "{r}");
    // Refusals: a signature that does not parse, a value that does not fit its type, the
    // wrong number of values, return types that do not fit the answer.
    assert_err(view("balanceOf(address", json!([address])), "invalid_abi");
    assert_err(view("balanceOf(uint257)", json!(["1"])), "invalid_abi");
    assert_err(view("balanceOf(address)", json!(["0x1234"])), "invalid_abi");
    assert_err(view("balanceOf(address)", json!([])), "invalid_abi");
    assert_err(
        view("balanceOf(address) returns (string)", json!([address])),
        "invalid_abi",
    );

    // The fee estimate of transfer(address,uint256): ordered levels.
    let est = assert_ok(s.post(
        "/v2/transactions/contract-execution/estimate-fee",
        json!({"walletId": wallet, "contractAddress": token,
               "abiFunctionSignature": "transfer(address,uint256)",
               "abiParameters": [receiver, "1"]}),
    ));
    let max = |l: &str| {
        est[l]["maxFeePerGas"]
            .as_str()
            .unwrap()
            .parse::<u128>()
            .unwrap()
    };
    assert!(
        max("low") <= max("medium") && max("medium") <= max("high"),
        "{est}"
    );
    assert_eq!(est["low"]["gasLimit"], est["high"]["gasLimit"]);
    let gas: u64 = est["medium"]["gasLimit"].as_str().unwrap().parse().unwrap();
    assert!(gas > 21_000, "{est}");

    // Contract execution: transfer(address,uint256) on the ERC-20 moves exactly that.
    let amount = 12 * ETH + 345;
    let body = json!({"idempotencyKey": idem(), "walletId": wallet, "contractAddress": token,
                      "abiFunctionSignature": "transfer(address,uint256)",
                      "abiParameters": [receiver, amount.to_string()], "refId": "exec-1"});
    let created = assert_ok(execute(&s, body.clone()));
    assert_eq!(created["operation"], "CONTRACT_EXECUTION", "{created}");
    assert_eq!(created["abiFunctionSignature"], "transfer(address,uint256)");
    assert_eq!(
        created["abiParameters"],
        json!([receiver, amount.to_string()])
    );
    let t = settle(&s, created["id"].as_str().unwrap());
    assert_eq!(t["status"], "confirmed", "{t}");
    check_signer(&anvil, &t, &address);
    assert_eq!(anvil.token_balance(&token, receiver), amount);
    assert_eq!(anvil.token_balance(&token, &address), 100 * ETH - amount);
    // The call data on chain is the ABI encoding built here by hand.
    let on_chain = anvil.rpc("eth_getTransactionByHash", json!([t["transactionHash"]]));
    assert_eq!(
        on_chain["input"],
        format!("0xa9059cbb{}{}", word_address(receiver), word(amount)).as_str()
    );
    assert_eq!(
        on_chain["to"].as_str().unwrap().to_lowercase(),
        token.to_lowercase()
    );
    // The same key: the same transaction.
    assert_eq!(assert_ok(execute(&s, body))["id"], created["id"]);

    // Refusals before anything is signed: no nonce used.
    let nonce = anvil.nonce(&address);
    let refuse = |sig: &str, params: Value, code: &str| {
        assert_err(
            execute(
                &s,
                json!({"idempotencyKey": idem(), "walletId": wallet, "contractAddress": token,
                       "abiFunctionSignature": sig, "abiParameters": params}),
            ),
            code,
        )
    };
    refuse(
        "transfer(address,uint256",
        json!([receiver, "1"]),
        "invalid_abi",
    );
    refuse(
        "transfer(address,uint256)",
        json!([receiver, "-1"]),
        "invalid_abi",
    );
    refuse(
        "transfer(address,uint256)",
        json!([receiver, 1.5]),
        "invalid_abi",
    );
    refuse(
        "transfer(address,uint256)",
        json!(["0xabc", "1"]),
        "invalid_abi",
    );
    // More than the wallet holds: the node's estimate reverts, with its reason.
    let (status, body) = execute(
        &s,
        json!({"idempotencyKey": idem(), "walletId": wallet, "contractAddress": token,
               "abiFunctionSignature": "transfer(address,uint256)",
               "abiParameters": [receiver, (1000 * ETH).to_string()]}),
    );
    assert_err((status, body.clone()), "transaction_would_fail");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("exceeds balance"),
        "{body}"
    );
    assert_eq!(anvil.nonce(&address), nonce);

    // A payable call: OpenZeppelin's Escrow, owned by the wallet, takes a deposit with
    // the call's value; depositsOf (a view call) and the chain agree to the wei.
    let escrow = anvil.deploy_oz("Escrow", "");
    anvil.dev_call(&escrow, &format!("0xf2fde38b{}", word_address(&address)));
    let payee = "0x00000000000000000000000000000000000fee00";
    let created = assert_ok(execute(
        &s,
        json!({"idempotencyKey": idem(), "walletId": wallet, "contractAddress": escrow,
               "abiFunctionSignature": "deposit(address)", "abiParameters": [payee],
               "amount": "0.25", "feeLevel": "high"}),
    ));
    assert_eq!(created["amounts"], json!(["0.25"]));
    let t = settle(&s, created["id"].as_str().unwrap());
    assert_eq!(t["status"], "confirmed", "{t}");
    assert_eq!(anvil.balance(&escrow), ETH / 4);
    assert_eq!(
        anvil.read_u128(&escrow, &format!("0xe3a9db1a{}", word_address(payee))),
        ETH / 4
    );
    let r = assert_ok(s.post(
        "/v2/transactions/contract-view/call",
        json!({"walletId": wallet, "contractAddress": escrow,
               "abiFunctionSignature": "depositsOf(address) view returns (uint256)",
               "abiParameters": [payee]}),
    ));
    assert_eq!(r["result"], json!([(ETH / 4).to_string()]), "{r}");
    assert_eq!(decimal18(ETH / 4), "0.25");

    // The list filter by operation.
    let l = assert_ok(
        s.owner
            .raw("GET", "/v2/transactions?operation=CONTRACT_EXECUTION", None)
            .unwrap(),
    );
    assert_eq!(l["total"], 2, "{l}");

    // The CLI: call and exec.
    let (ok, out) = crate::rest::cli(
        &s,
        &[
            "contract",
            "call",
            "--wallet",
            &wallet,
            "--contract",
            &token,
            "--function",
            "balanceOf(address) returns (uint256)",
            "--param",
            receiver,
        ],
        None,
    );
    assert!(ok && out.trim() == amount.to_string(), "{out}");
    let (ok, out) = crate::rest::cli(
        &s,
        &[
            "contract",
            "exec",
            "--wallet",
            &wallet,
            "--contract",
            &token,
            "--function",
            "transfer(address,uint256)",
            "--param",
            receiver,
            "--param",
            "5",
            "--json",
        ],
        None,
    );
    assert!(ok, "{out}");
    let sent: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        settle(&s, sent["id"].as_str().unwrap())["status"],
        "confirmed"
    );
    assert_eq!(anvil.token_balance(&token, receiver), amount + 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn erc721_and_erc1155_transfers_move_the_tokens_on_chain() {
    if !anvil_ready() {
        return;
    }
    let anvil = Anvil::start(SEPOLIA);
    let (s, wallet, address) = stack_with_wallet(&anvil, Custody::Standard, "", 10 * ETH).await;
    let receiver = "0x000000000000000000000000000000000000bEEF";

    // ERC-721: three minted to the wallet (ids 0, 1, 2); id 1 sent.
    let nft = anvil.deploy_oz(
        "ERC721PresetMinterPauserAutoId",
        &abi_strings(&["Test NFT", "TN", "https://example.invalid/"]),
    );
    for _ in 0..3 {
        anvil.dev_call(&nft, &format!("0x6a627842{}", word_address(&address)));
    }
    let nft_id = register(&s, "erc721", &nft, 0);
    // Decimals of an NFT are 0.
    assert_err(
        s.post(
            "/v2/tokens",
            json!({"idempotencyKey": idem(), "blockchain": "ETH-SEPOLIA", "standard": "erc721",
                   "name": "x", "symbol": "x", "decimals": 18, "address": receiver}),
        ),
        "invalid_request",
    );
    let balances = |w: &str| {
        assert_ok(
            s.owner
                .raw("GET", &format!("/v2/wallets/{w}/balances"), None)
                .unwrap(),
        )
    };
    let b = balances(&wallet);
    assert_eq!(b["items"][1]["token"]["standard"], "erc721", "{b}");
    assert_eq!(b["items"][1]["amount"], "3", "{b}");
    let owner_of = |id: u128| anvil.read_address(&nft, &format!("0x6352211e{}", word(id)));
    assert_eq!(owner_of(1), address.to_lowercase());
    let est = assert_ok(s.post(
        "/v2/transactions/transfer/estimate-fee",
        json!({"walletId": wallet, "destinationAddress": receiver, "tokenId": nft_id,
               "nftTokenIds": ["1"]}),
    ));
    assert!(
        est["medium"]["gasLimit"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 21_000
    );
    let created = assert_ok(transfer(
        &s,
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": nft_id, "amounts": [], "nftTokenIds": ["1"]}),
    ));
    assert_eq!(created["nftTokenIds"], json!(["1"]), "{created}");
    let t = settle(&s, created["id"].as_str().unwrap());
    assert_eq!(t["status"], "confirmed", "{t}");
    check_signer(&anvil, &t, &address);
    assert_eq!(owner_of(1), receiver.to_lowercase());
    assert_eq!(owner_of(0), address.to_lowercase());
    assert_eq!(balances(&wallet)["items"][1]["amount"], "2");
    // Refusals: two ids in one ERC-721 transfer, none, a fractional amount, an id the
    // wallet does not own (the node's estimate reverts).
    let refuse = |body: Value, code: &str| assert_err(transfer(&s, body), code);
    let nonce = anvil.nonce(&address);
    refuse(
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": nft_id, "nftTokenIds": ["0", "2"]}),
        "invalid_request",
    );
    refuse(
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": nft_id, "amounts": ["1"]}),
        "invalid_request",
    );
    refuse(
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": nft_id, "nftTokenIds": ["1.5"]}),
        "invalid_request",
    );
    refuse(
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": nft_id, "nftTokenIds": ["1"]}),
        "transaction_would_fail",
    );
    assert_eq!(anvil.nonce(&address), nonce);

    // ERC-1155: ids 7 (×10) and 8 (×5) minted to the wallet; one single transfer, then a
    // batch.
    let multi = anvil.deploy_oz(
        "ERC1155PresetMinterPauser",
        &abi_strings(&["https://example.invalid/{id}"]),
    );
    for (id, n) in [(7u128, 10u128), (8, 5)] {
        // mint(address,uint256,uint256,bytes) with empty bytes.
        anvil.dev_call(
            &multi,
            &format!(
                "0x731133e9{}{}{}{}{}",
                word_address(&address),
                word(id),
                word(n),
                word(0x80),
                word(0)
            ),
        );
    }
    let multi_id = register(&s, "erc1155", &multi, 0);
    let balance_of = |who: &str, id: u128| {
        anvil.read_u128(
            &multi,
            &format!("0x00fdd58e{}{}", word_address(who), word(id)),
        )
    };
    assert_eq!(balance_of(&address, 7), 10);
    // amounts[i] goes with nftTokenIds[i]; whole numbers only.
    refuse(
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": multi_id, "nftTokenIds": ["7"], "amounts": ["1.5"]}),
        "invalid_request",
    );
    refuse(
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": multi_id, "nftTokenIds": ["7", "8"], "amounts": ["1"]}),
        "invalid_request",
    );
    let created = assert_ok(transfer(
        &s,
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": multi_id, "nftTokenIds": ["7"], "amounts": ["3"]}),
    ));
    assert_eq!(
        settle(&s, created["id"].as_str().unwrap())["status"],
        "confirmed"
    );
    assert_eq!(balance_of(receiver, 7), 3);
    assert_eq!(balance_of(&address, 7), 7);
    let created = assert_ok(transfer(
        &s,
        json!({"idempotencyKey": idem(), "walletId": wallet, "destinationAddress": receiver,
               "tokenId": multi_id, "nftTokenIds": ["7", "8"], "amounts": ["2", "5"]}),
    ));
    assert_eq!(created["amounts"], json!(["2", "5"]));
    let t = settle(&s, created["id"].as_str().unwrap());
    assert_eq!(t["status"], "confirmed", "{t}");
    check_signer(&anvil, &t, &address);
    assert_eq!(balance_of(receiver, 7), 5);
    assert_eq!(balance_of(receiver, 8), 5);
    assert_eq!(balance_of(&address, 7), 5);
    assert_eq!(balance_of(&address, 8), 0);
    // ERC-1155 balances, one item per id held: ids 9 (×4) and 10 (×6) minted to the
    // wallet in a batch (a TransferBatch log), id 11 to someone else; id 8 is all gone.
    // mintBatch(address,uint256[],uint256[],bytes): head (to, three offsets), then each
    // array's length and elements, then empty bytes.
    for (to, ids, amounts) in [
        (address.as_str(), [9u128, 10], [4u128, 6]),
        (receiver, [11, 12], [1, 1]),
    ] {
        anvil.dev_call(
            &multi,
            &format!(
                "0x1f7fdffa{}{}{}{}{}{}{}{}{}{}{}",
                word_address(to),
                word(0x80),
                word(0xe0),
                word(0x140),
                word(2),
                word(ids[0]),
                word(ids[1]),
                word(2),
                word(amounts[0]),
                word(amounts[1]),
                word(0)
            ),
        );
    }
    let b = balances(&wallet);
    let held: Vec<(String, String)> = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["token"]["standard"] == "erc1155")
        .map(|i| {
            assert_eq!(i["token"]["id"], multi_id.as_str(), "{b}");
            (
                i["nftTokenId"].as_str().unwrap().to_owned(),
                i["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [7u128, 9, 10]
        .iter()
        .map(|id| (id.to_string(), balance_of(&address, *id).to_string()))
        .collect();
    assert_eq!(held, expected, "{b}");
    assert_eq!(
        held,
        [("7", "5"), ("9", "4"), ("10", "6")]
            .map(|(i, a)| (i.to_owned(), a.to_owned()))
            .to_vec()
    );
    // Other tokens carry no nftTokenId.
    assert!(
        b["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["token"]["standard"] != "erc1155")
            .all(|i| i.get("nftTokenId").is_none()),
        "{b}"
    );

    // The CLI: an ERC-721 by --nft-token-id.
    let (ok, out) = crate::rest::cli(
        &s,
        &[
            "transfer",
            "--wallet",
            &wallet,
            "--to",
            receiver,
            "--token",
            &nft_id,
            "--nft-token-id",
            "2",
            "--json",
        ],
        None,
    );
    assert!(ok, "{out}");
    let sent: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        settle(&s, sent["id"].as_str().unwrap())["status"],
        "confirmed"
    );
    assert_eq!(owner_of(2), receiver.to_lowercase());
}
