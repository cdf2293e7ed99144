// The Tailscale control transport's Noise layer, without any HTTP.
export { NoiseError, isNoiseError, type NoiseErrorCode } from './errors.js';
export * from './keys.js';
export { CipherState, type NonceEncoding } from './cipher-state.js';
export { IKInitiator, IKResponder, IK_PROTOCOL_NAME, type IKResult } from './handshake-ik.js';
export * from './messages.js';
export {
  respondToInitiation,
  createInitiation,
  checkInitiationFraming,
  parseInitiationHeader,
  parseServerFrameHeader,
  peerErrorFromFrame,
  type ControlResponderResult,
  type ControlInitiation,
} from './control-handshake.js';
export { NoiseConn, type NoiseConnOptions } from './conn.js';
export * from './early-payload.js';
export { readExact } from './read-exact.js';
export { WebSocketDuplex } from './websocket-duplex.js';
