//! A typed client for the Dapr HTTP API, independent of how requests are sent.
