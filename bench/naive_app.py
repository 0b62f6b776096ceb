"""The seed's naive app, as the baseline: render the template on every request, and a
sign-up handler that connects to SQLite, inserts, commits and redirects."""

import os
import sqlite3

from flask import Flask, redirect, render_template, request

app = Flask(__name__)
DB = os.environ.get("BENCH_NAIVE_DB", "/tmp/naive.db")
with sqlite3.connect(DB) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS signups (email TEXT, interests TEXT)")


@app.route("/")
def landing_page():
    title = request.environ.get("LANDING_TITLE", "Default Site")
    email = request.environ.get("LANDING_EMAIL", "")
    return render_template("landing_page.html", title=title, email=email)


@app.route("/signup", methods=["POST"])
def signup():
    conn = sqlite3.connect(DB)
    conn.execute("INSERT INTO signups (email, interests) VALUES (?, ?)",
                 (request.form["email"], ",".join(request.form.getlist("interests"))))
    conn.commit()
    conn.close()
    return redirect("/thanks", 303)
