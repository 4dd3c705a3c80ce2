// The gcp family: gcppubsub:// on @google-cloud/pubsub (loaded only when the scheme is used).
import './pubsub';
