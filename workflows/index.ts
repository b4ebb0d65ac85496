/** Every workflow the worker registers. */
export { vipSwitch } from './vip-switch.js';
export { addressSwitch } from './address-switch.js';
export { drainHost, returnToHost } from './drain.js';
export { readinessDrill, sourceDrill } from './drill.js';
