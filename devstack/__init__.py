"""The local stand-ins for the cloud: a real Apache Kafka broker (KRaft, jars from Maven
Central), the fakesnow server and the Helix simulator, plus `twitch-pulse run` on top of
them. Nothing here needs Docker."""
