"""The loop people write to read a table with each database's own Python client, timed
for `quarry bench --clients PYTHON`: it connects, then reads every row of the table once
per round, the way each client's documentation shows, and prints one line per round:

    ROWS SECONDS

Usage: read_all.py postgres URL TABLE ROUNDS
       read_all.py cassandra HOST:PORT KEYSPACE.TABLE ROUNDS
       read_all.py mongo URI DATABASE.COLLECTION ROUNDS

The clients: psycopg2 (`cursor.execute`, `fetchall()`), the DataStax `cassandra-driver`
(`for row in session.execute(...)`, paged by the driver's default fetch size), pymongo
(`for doc in collection.find()`). Only the read loop is timed, not the connection.
"""

import sys
import time


def postgres(url, table, rounds):
    import psycopg2

    conn = psycopg2.connect(url)
    for _ in range(rounds):
        start = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {table}")
            rows = cur.fetchall()
        yield len(rows), time.perf_counter() - start
        del rows


def cassandra(node, table, rounds):
    from cassandra.cluster import Cluster

    host, _, port = node.rpartition(":")
    cluster = Cluster([host], port=int(port), protocol_version=4)
    session = cluster.connect()
    for _ in range(rounds):
        start = time.perf_counter()
        n = 0
        for row in session.execute(f"SELECT * FROM {table}", timeout=600):
            n += 1
        yield n, time.perf_counter() - start
    cluster.shutdown()


def mongo(uri, table, rounds):
    import pymongo

    database, _, collection = table.partition(".")
    client = pymongo.MongoClient(uri)
    coll = client[database][collection]
    for _ in range(rounds):
        start = time.perf_counter()
        n = 0
        for doc in coll.find():
            n += 1
        yield n, time.perf_counter() - start
    client.close()


def main():
    backend, address, table, rounds = sys.argv[1:5]
    loop = {"postgres": postgres, "cassandra": cassandra, "mongo": mongo}[backend]
    for rows, seconds in loop(address, table, int(rounds)):
        print(rows, f"{seconds:.6f}", flush=True)


if __name__ == "__main__":
    main()
