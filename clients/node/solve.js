// A Node.js client of solverd, built from protos/ alone: solves a sparse SPD system
// with CG, checks the residual itself, then sends a bad request and reads the
// google.rpc.BadRequest that names the field.
//
//   npm ci && node solve.js [host:port]     (SOLVERD_TOKEN: bearer token, if any)
"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const protobuf = require("protobufjs");

const target = process.argv[2] || "127.0.0.1:50051";
const protos = path.resolve(__dirname, "..", "..", "protos");
const definition = protoLoader.loadSync("solverd/v1/linear.proto", {
  includeDirs: [protos], longs: String, enums: String, defaults: true, oneofs: true,
});
const solverd = grpc.loadPackageDefinition(definition).solverd.v1;
const rpc = new protobuf.Root().loadSync(path.join(__dirname, "rpc_status.proto"), { keepCase: true });
const Status = rpc.lookupType("google.rpc.Status");
const BadRequest = rpc.lookupType("google.rpc.BadRequest");

// Tensors are dtype + shape + little-endian bytes (tensor.proto), whatever this
// machine's byte order.
function float64Tensor(values) {
  const buf = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => buf.writeDoubleLE(v, i * 8));
  return { dtype: "DTYPE_FLOAT64", shape: [values.length], data: buf };
}
function int32Tensor(values) {
  const buf = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => buf.writeInt32LE(v, i * 4));
  return { dtype: "DTYPE_INT32", shape: [values.length], data: buf };
}
function readFloat64(tensor) {
  const out = [];
  for (let i = 0; i < tensor.data.length; i += 8) out.push(tensor.data.readDoubleLE(i));
  return out;
}

// The 1-D Laplacian tridiag(-1, 2, -1) of order n in CSR form.
function laplacian(n) {
  const indptr = [0], indices = [], data = [];
  for (let i = 0; i < n; i++) {
    for (const [j, v] of [[i - 1, -1], [i, 2], [i + 1, -1]]) {
      if (j >= 0 && j < n) { indices.push(j); data.push(v); }
    }
    indptr.push(indices.length);
  }
  return { n, indptr, indices, data };
}

function residualNorm(a, x, b) {
  let sum = 0, bsum = 0;
  for (let i = 0; i < a.n; i++) {
    let ax = 0;
    for (let k = a.indptr[i]; k < a.indptr[i + 1]; k++) ax += a.data[k] * x[a.indices[k]];
    sum += (b[i] - ax) ** 2;
    bsum += b[i] ** 2;
  }
  return Math.sqrt(sum) / Math.sqrt(bsum);
}

function call(client, request) {
  const metadata = new grpc.Metadata();
  if (process.env.SOLVERD_TOKEN) metadata.set("authorization", `Bearer ${process.env.SOLVERD_TOKEN}`);
  const deadline = new Date(Date.now() + 30000);
  return new Promise((resolve, reject) =>
    client.Solve(request, metadata, { deadline }, (err, response) => (err ? reject(err) : resolve(response))));
}

async function main() {
  const client = new solverd.LinearSolver(target, grpc.credentials.createInsecure());
  const a = laplacian(500);
  const b = Array.from({ length: a.n }, (_, i) => Math.sin(i / 10) + 1);
  const matrix = {
    csr: { shape: [a.n, a.n], indptr: int32Tensor(a.indptr), indices: int32Tensor(a.indices),
           data: float64Tensor(a.data) },
  };
  const response = await call(client, { a: matrix, b: float64Tensor(b), method: "METHOD_CG", rtol: 1e-10 });
  const x = readFloat64(response.x);
  const residual = residualNorm(a, x, b);
  console.log(`solve: converged=${response.converged} iterations=${response.iterations} ` +
              `method=${response.method} residual(checked here)=${residual.toExponential(2)}`);
  if (!response.converged || !(residual <= 1e-9) || x.length !== a.n) {
    throw new Error("the solve did not give a solution");
  }

  // A Tensor without a dtype: INVALID_ARGUMENT, with the field named in the details.
  try {
    await call(client, { a: matrix, b: { dtype: "DTYPE_UNSPECIFIED", shape: [a.n], data: Buffer.alloc(0) } });
    throw new Error("the bad request was accepted");
  } catch (err) {
    if (err.code !== grpc.status.INVALID_ARGUMENT) throw err;
    const raw = err.metadata.get("grpc-status-details-bin")[0];
    const status = Status.decode(raw);
    const bad = status.details
      .filter((d) => d.type_url === "type.googleapis.com/google.rpc.BadRequest")
      .map((d) => BadRequest.decode(d.value))[0];
    const fields = bad.field_violations.map((v) => v.field);
    console.log(`bad request: code=${err.code} (INVALID_ARGUMENT) violations=` +
                JSON.stringify(bad.field_violations.map((v) => `${v.field}: ${v.description}`)));
    if (!fields.includes("b.dtype")) throw new Error(`expected a b.dtype violation, got ${fields}`);
  }
  client.close();
  console.log("node client: OK");
}

main().catch((err) => { console.error(err); process.exit(1); });
