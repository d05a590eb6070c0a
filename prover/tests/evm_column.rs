//! The EVM verifier of public-column circuits (`Shape::public_column`): called with
//! `binding ‖ words ‖ proof` like every zkinfer verifier, it accepts the honest proof and
//! refuses a changed word, a word not below r, a changed commitment and a changed binding;
//! its code size and gas stay flat as the words grow (printed).

mod common;

use common::{dense_graph, rng};
use zkinfer_circuits::ir::Tensor;
use zkinfer_circuits::layout::circuit::{public_values, ModelCircuit};
use zkinfer_circuits::layout::ctx::Shape;
use zkinfer_circuits::layout::lay_out;
use zkinfer_prover::evm::{compile_verifier, contracts_dir, gen_sol, gen_sol_column, install_solc, EvmVerifier};
use zkinfer_prover::public_column::POINT_BYTES;
use zkinfer_prover::verify::verify_values;
use zkinfer_prover::{k_for_rows, keygen, prove, srs, Fr};

struct Row {
    words: usize,
    column_bytes: usize,
    column_gas: u64,
    column_exec: u64,
    instances_gas: u64,
    instances_exec: u64,
}

/// A Dense `n_in -> 6` model (one-byte values, 30 to a word), proved with the public column
/// and without it at the same k; both verifiers deployed in revm.
fn measure(n_in: usize, attacks: bool) -> Row {
    let g = dense_graph(n_in, 6);
    let input = Tensor::new(vec![1, n_in], (0..n_in).map(|i| (i * 53 % 256) as i64).collect()).expect("shape");
    let shape = Shape::new(2, 1);
    let column = Shape { public_column: true, ..shape };
    let mut ctx = lay_out(&g, std::slice::from_ref(&input), column).expect("layout");
    ctx.binding = Fr::from(0xb1d);
    let values = public_values(&ctx);
    let circuit = ModelCircuit { ctx };
    let k = k_for_rows(circuit.rows());
    let (params, _) = srs::dev_srs(k).expect("dev srs (UNSAFE, tests only)");
    let pk = keygen(&params, &circuit).expect("keygen");
    let vk = pk.get_vk();
    let proof = prove(&params, &pk, &circuit, &values, rng()).expect("prove");
    assert!(verify_values(&params, vk, true, &values, &proof).is_valid());

    install_solc(&contracts_dir().expect("contracts dir")).expect("solcjs");
    let sol = gen_sol_column(&params, vk, values.len() - 1).expect("column verifier");
    let code = compile_verifier(&sol).expect("compile");
    assert!(code.parts.is_empty(), "one contract");
    let mut evm = EvmVerifier::deploy_code(&code).expect("deploy");
    let honest = evm.verify(&values, &proof).expect("call");
    assert!(honest.success, "honest proof refused in the EVM: {}", honest.detail);

    if attacks {
        let refused = |evm: &mut EvmVerifier, values: &[Fr], proof: &[u8], what: &str| {
            let out = evm.verify(values, proof).expect("call");
            assert!(!out.success, "{what} accepted in the EVM");
        };
        for (i, what) in [(values.len() - 1, "a changed output word"), (1, "a changed input word"), (0, "a changed binding")] {
            let mut other = values.clone();
            other[i] += Fr::one();
            refused(&mut evm, &other, &proof, what);
        }
        // the same word plus r: equal mod r, so the keccak must refuse it, and the range check
        // does before that
        let mut data = zkinfer_prover::evm::calldata(&values, &proof);
        let r = hex::decode("30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001").expect("r");
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let sum = data[32 + i] as u16 + r[i] as u16 + carry;
            data[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        assert!(!evm.call(data).expect("call").success, "a word not below r accepted");
        let at = (vk.cs().num_advice_columns() - 1) * POINT_BYTES;
        let mut tampered = proof.clone();
        tampered[at + 31] ^= 1;
        refused(&mut evm, &values, &tampered, "a changed public-column commitment");
        refused(&mut evm, &values[..values.len() - 1], &proof, "a missing word");
    }

    // the same model without the column: one instance per word, read in loops
    let ctx = lay_out(&g, &[input], shape).expect("layout");
    let plain = ModelCircuit { ctx };
    let (params, _) = srs::dev_srs(k_for_rows(plain.rows())).expect("dev srs");
    let pk = keygen(&params, &plain).expect("keygen");
    let instances = public_values(&plain.ctx);
    let proof = prove(&params, &pk, &plain, &instances, rng()).expect("prove");
    let code2 = compile_verifier(&gen_sol(&params, pk.get_vk(), instances.len()).expect("sol")).expect("compile");
    let out = EvmVerifier::deploy_code(&code2).expect("deploy").verify(&instances, &proof).expect("call");
    assert!(out.success);
    Row { words: values.len() - 1, column_bytes: honest.deployed_size, column_gas: honest.gas_used, column_exec: honest.execution_gas, instances_gas: out.gas_used, instances_exec: out.execution_gas }
}

#[test]
fn the_public_column_verifier_checks_the_words_in_the_evm() {
    let row = measure(100, true);
    eprintln!("{} words: column verifier {} B, {} gas ({} execution); with instances {} gas ({} execution)", row.words, row.column_bytes, row.column_gas, row.column_exec, row.instances_gas, row.instances_exec);
}

/// Gas and code size over the number of words (`cargo test --release --test evm_column --
/// --ignored --nocapture`).
#[test]
#[ignore = "measurement"]
fn public_column_gas_over_words() {
    eprintln!("| words | column verifier bytes | column: execution gas | column: transaction gas | instance loops: execution gas | instance loops: transaction gas |");
    for n_in in [30, 300, 3000, 15000, 60000] {
        let r = measure(n_in, false);
        eprintln!("| {} | {} | {} | {} | {} | {} |", r.words, r.column_bytes, r.column_exec, r.column_gas, r.instances_exec, r.instances_gas);
    }
}
