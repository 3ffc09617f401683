/**
 * IPFS-facing servers over a block store, runtime-neutral fetch-style handlers: a trustless
 * gateway (`createGatewayHandler`) and a Kubo-RPC-compatible API (`createKuboRpcHandler`). On
 * Node, `serveHandler` from `./serve.node.js` runs either.
 */

export { boundaryOf, multipartBody, readMultipart } from "../stores/ipld/multipart.js";
export { createGatewayHandler, type GatewayOptions } from "./gateway.js";
export { createKuboRpcHandler, KUBO_BLOCK_LIMIT, type KuboRpcOptions } from "./kubo-rpc.js";
