// The workflow bundle's entry point: every workflow the worker registers.
export { orderSaga } from './order-saga';
