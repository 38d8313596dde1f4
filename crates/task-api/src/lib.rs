//! The chat-api request handlers, generic over the Dapr transport so they run natively and in wasm.
