import mod from "./0123456789abcdef0123456789abcdef01234567-app.wasm";
export default { mod };
