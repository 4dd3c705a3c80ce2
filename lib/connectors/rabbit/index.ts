// The rabbit family: rabbit:// (RabbitMQ, AMQP 0-9-1) on amqplib.
import './rabbit';
