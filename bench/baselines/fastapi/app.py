"""The task-backend baseline: the original kind of FastAPI + SQLModel service (bench/README.md).

Like the hackathon backend it replaces, it trusts an `X-User-Id` header set by the Next.js
front end (spoofable; that is the point of the rewrite) and keeps its own `task` table in its
own database. Plain SQLModel-tutorial style: sync path functions run in Starlette's thread
pool, one SQLAlchemy Session per request, psycopg2, the engine's default pool.

Run: DATABASE_URL=postgresql+psycopg2://... uvicorn app:app --workers 2
"""

import os
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Annotated, Optional

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Response
from sqlalchemy import Column, DateTime, Index, text
from sqlmodel import Field, Session, SQLModel, create_engine, select

engine = create_engine(os.environ["DATABASE_URL"])


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Task(SQLModel, table=True):
    __table_args__ = (Index("ix_task_owner_created", "owner_id", "created_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    description: Optional[str] = Field(default=None, max_length=1000)
    is_completed: bool = False
    owner_id: str
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class TaskCreate(SQLModel):
    title: str = Field(min_length=1, max_length=200)
    description: Optional[str] = Field(default=None, max_length=1000)


class TaskUpdate(SQLModel):
    title: Optional[str] = Field(default=None, min_length=1, max_length=200)
    description: Optional[str] = Field(default=None, max_length=1000)
    is_completed: Optional[bool] = None


class TaskRead(SQLModel):
    id: int
    title: str
    description: Optional[str]
    is_completed: bool
    owner_id: str
    created_at: datetime
    updated_at: datetime


class TaskPage(SQLModel):
    items: list[TaskRead]
    next_cursor: Optional[str] = None


@asynccontextmanager
async def lifespan(_app: FastAPI):
    # Both uvicorn workers run this; the advisory lock keeps create_all from racing itself.
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))
        SQLModel.metadata.create_all(conn)
    yield
    engine.dispose()


app = FastAPI(title="tasks baseline", lifespan=lifespan)


def get_session():
    with Session(engine) as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]
UserId = Annotated[str, Header(alias="X-User-Id", min_length=1)]


def owned_task(session: Session, task_id: int, user_id: str) -> Task:
    task = session.get(Task, task_id)
    if task is None or task.owner_id != user_id:
        raise HTTPException(status_code=404, detail="Task not found")
    return task


@app.get("/health")
def health():
    return {"ok": True}


@app.get("/api/v1/tasks", response_model=TaskPage)
def list_tasks(session: DbSession, user_id: UserId, limit: int = Query(default=20, ge=1, le=100)):
    rows = session.exec(
        select(Task).where(Task.owner_id == user_id).order_by(Task.created_at.desc(), Task.id.desc()).limit(limit)
    ).all()
    return TaskPage(items=[TaskRead.model_validate(t, from_attributes=True) for t in rows])


@app.post("/api/v1/tasks", response_model=TaskRead, status_code=201)
def create_task(body: TaskCreate, session: DbSession, user_id: UserId, response: Response):
    task = Task(title=body.title, description=body.description, owner_id=user_id)
    session.add(task)
    session.commit()
    session.refresh(task)
    response.headers["Location"] = f"/api/v1/tasks/{task.id}"
    return task


@app.get("/api/v1/tasks/{task_id}", response_model=TaskRead)
def get_task(task_id: int, session: DbSession, user_id: UserId):
    return owned_task(session, task_id, user_id)


@app.patch("/api/v1/tasks/{task_id}", response_model=TaskRead)
def patch_task(task_id: int, body: TaskUpdate, session: DbSession, user_id: UserId):
    task = owned_task(session, task_id, user_id)
    for key, value in body.model_dump(exclude_unset=True).items():
        setattr(task, key, value)
    task.updated_at = utcnow()
    session.add(task)
    session.commit()
    session.refresh(task)
    return task


@app.delete("/api/v1/tasks/{task_id}", status_code=204)
def delete_task(task_id: int, session: DbSession, user_id: UserId):
    task = owned_task(session, task_id, user_id)
    session.delete(task)
    session.commit()
    return Response(status_code=204)
