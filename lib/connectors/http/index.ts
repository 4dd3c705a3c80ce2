// The http family: http:// and https://, the webhook source (node:http) and the HTTP sink (undici).
import './http';
