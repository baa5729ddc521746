import { createEncoderModel } from './encoder.js';
import { cloneModel, encodeModel, decodeModel } from './model.js';
let t = performance.now();
const m = createEncoderModel();
console.log('create', performance.now() - t); t = performance.now();
for (let i = 0; i < 3; i++) { cloneModel(m); console.log('clone', performance.now() - t); t = performance.now(); }
const b = encodeModel(m); console.log('encode', performance.now() - t); t = performance.now();
decodeModel(b); console.log('decode', performance.now() - t); t = performance.now();
